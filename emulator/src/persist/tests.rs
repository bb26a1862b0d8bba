use std::io::Write;

use super::*;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("privatelink-persist-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn tick(now: u64) -> Change {
    let effect = Effect {
        region: "ap-northeast-1".into(),
        table: "vpcs".into(),
        key: format!("vpc-{now}").into(),
        value: Some(serde_json::json!({"n": now})),
    };
    Change { at: now, cause: "test".into(), body: Body::Effects(vec![effect]) }
}

fn changes(r: &Restored) -> Vec<Change> {
    r.records
        .iter()
        .map(|r| match r {
            Record::Change(c) => c.clone(),
            Record::Legacy(op) => panic!("a format 1 record: {op:?}"),
        })
        .collect()
}

#[test]
fn appended_operations_come_back_in_order() {
    let d = dir("order");
    {
        let (mut store, restored) = Store::open(&d).expect("open");
        assert!(restored.world.is_none() && restored.records.is_empty());
        for n in 1..=5 {
            let seq = store.append(tick(n)).expect("append");
            store.syncer().sync_through(seq).expect("sync");
        }
    }
    let (_, restored) = Store::open(&d).expect("reopen");
    assert_eq!(changes(&restored), (1..=5).map(tick).collect::<Vec<_>>());
    assert_eq!(restored.dropped, 0);
    fs::remove_dir_all(&d).expect("cleanup");
}

#[test]
fn a_torn_tail_is_cut_and_appending_goes_on_after_it() {
    let d = dir("torn");
    {
        let (mut store, _) = Store::open(&d).expect("open");
        store.append(tick(1)).expect("append");
        store.append(tick(2)).expect("append");
    }
    // A crash mid-write: half a record at the end.
    let mut f = OpenOptions::new().append(true).open(d.join(JOURNAL)).expect("journal");
    f.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, b'{', b'"']).expect("write");
    drop(f);
    {
        let (mut store, restored) = Store::open(&d).expect("reopen");
        assert_eq!(changes(&restored), vec![tick(1), tick(2)]);
        assert_eq!(restored.dropped, 10);
        store.append(tick(3)).expect("append after the cut");
    }
    let (_, restored) = Store::open(&d).expect("reopen");
    assert_eq!(changes(&restored), vec![tick(1), tick(2), tick(3)]);
    assert_eq!(restored.dropped, 0);
    fs::remove_dir_all(&d).expect("cleanup");
}

#[test]
fn a_snapshot_folds_the_journal_and_later_operations_follow_it() {
    let d = dir("snapshot");
    {
        let (mut store, _) = Store::open(&d).expect("open");
        store.append(tick(1)).expect("append");
        store.snapshot(&serde_json::json!({"regions": {}})).expect("snapshot");
        store.append(tick(2)).expect("append");
    }
    assert!(!d.join(format!("{SNAPSHOT}.tmp")).exists());
    let (_, restored) = Store::open(&d).expect("reopen");
    assert_eq!(restored.world, Some(serde_json::json!({"regions": {}})));
    assert_eq!(changes(&restored), vec![tick(2)]);
    fs::remove_dir_all(&d).expect("cleanup");
}

#[test]
fn records_the_snapshot_already_holds_are_skipped() {
    // A crash between writing the snapshot and emptying the journal.
    let d = dir("skip");
    let journal_copy;
    {
        let (mut store, _) = Store::open(&d).expect("open");
        store.append(tick(1)).expect("append");
        store.append(tick(2)).expect("append");
        journal_copy = fs::read(d.join(JOURNAL)).expect("journal");
        store.snapshot(&serde_json::json!({})).expect("snapshot");
    }
    fs::write(d.join(JOURNAL), &journal_copy).expect("restore old journal");
    let (_, restored) = Store::open(&d).expect("reopen");
    assert!(restored.records.is_empty(), "{:?}", restored.records);
    fs::remove_dir_all(&d).expect("cleanup");
}

#[test]
fn format_1_records_are_read_for_migration() {
    let d = dir("legacy");
    fs::create_dir_all(&d).expect("dir");
    let op = Op::Tick { now: 5, seed: 35 };
    let payload = serde_json::to_vec(&serde_json::json!({"seq": 1, "op": "tick", "now": 5, "seed": 35})).expect("json");
    let mut bytes = Vec::new();
    journal::frame(&payload, &mut bytes);
    fs::write(d.join(JOURNAL), &bytes).expect("journal");
    fs::write(d.join(SNAPSHOT), br#"{"format":1,"seq":0,"world":{}}"#).expect("snapshot");
    let (_, restored) = Store::open(&d).expect("open");
    assert_eq!(restored.records, vec![Record::Legacy(op)]);
    assert_eq!(restored.snapshot_format, 1);
    fs::remove_dir_all(&d).expect("cleanup");
}

#[test]
fn a_newer_format_is_refused_not_half_loaded() {
    let d = dir("newer");
    {
        let (mut store, _) = Store::open(&d).expect("open");
        store.append(tick(1)).expect("append");
    }
    let journal_before = fs::read(d.join(JOURNAL)).expect("journal");
    // A record of a later release after an intact one of ours.
    let payload =
        serde_json::to_vec(&serde_json::json!({"seq": 2, "format": FORMAT + 1, "at": 2, "cause": "x", "other": []}))
            .expect("json");
    let mut bytes = journal_before.clone();
    journal::frame(&payload, &mut bytes);
    fs::write(d.join(JOURNAL), &bytes).expect("journal");
    let e = Store::open(&d).expect_err("a newer record is refused");
    assert!(e.to_string().contains("newer release"), "{e}");
    // Refusing cut nothing.
    assert_eq!(fs::read(d.join(JOURNAL)).expect("journal"), bytes);

    fs::write(d.join(JOURNAL), &journal_before).expect("journal");
    fs::write(d.join(SNAPSHOT), format!(r#"{{"format":{},"whatever":1}}"#, FORMAT + 1)).expect("snapshot");
    let e = Store::open(&d).expect_err("a newer snapshot is refused");
    assert!(e.to_string().contains("newer release"), "{e}");
    fs::remove_dir_all(&d).expect("cleanup");
}

#[test]
fn an_intact_record_that_does_not_read_is_refused_not_cut() {
    let d = dir("unreadable");
    {
        let (mut store, _) = Store::open(&d).expect("open");
        store.append(tick(1)).expect("append");
    }
    let mut bytes = fs::read(d.join(JOURNAL)).expect("journal");
    journal::frame(br#"{"seq": 2, "format": 2, "at": 1, "cause": "x", "unknown_body": 1}"#, &mut bytes);
    store_tick_after(&mut bytes);
    fs::write(d.join(JOURNAL), &bytes).expect("journal");
    let e = Store::open(&d).expect_err("refused");
    assert!(e.to_string().contains("does not read"), "{e}");
    assert_eq!(fs::read(d.join(JOURNAL)).expect("journal"), bytes, "nothing was cut");
    fs::remove_dir_all(&d).expect("cleanup");
}

/// A good record after the unreadable one, which cutting would lose.
fn store_tick_after(bytes: &mut Vec<u8>) {
    let entry = serde_json::json!({"seq": 3, "format": FORMAT, "at": 3, "cause": "x", "effects": []});
    journal::frame(&serde_json::to_vec(&entry).expect("json"), bytes);
}

/// The records of a state directory as a fresh start reads them.
fn reopened(d: &Path) -> (Option<Value>, Vec<Change>) {
    let (_, restored) = Store::open(d).expect("reopen");
    (restored.world.clone(), changes(&restored))
}

#[test]
fn a_snapshot_written_aside_keeps_every_record_at_every_step() {
    let d = dir("aside");
    let world = serde_json::json!({"regions": {"n": 2}});
    let (mut store, _) = Store::open(&d).expect("open");
    store.append(tick(1)).expect("append");
    store.append(tick(2)).expect("append");
    let pending = store.begin_snapshot().expect("begin");
    assert_eq!(pending.seq(), 2);
    // The world goes on changing while the snapshot is not written yet.
    let seq = store.append(tick(3)).expect("append");
    store.syncer().sync_through(seq).expect("sync the fresh journal");
    assert!(d.join(PREVIOUS_JOURNAL).exists());
    // A crash here: the moved-aside journal, then the fresh one.
    assert_eq!(reopened(&d), (None, vec![tick(1), tick(2), tick(3)]));
    // Another fold cannot begin while this one is pending.
    assert!(store.begin_snapshot().is_err());

    // A crash after the snapshot is written, before the moved-aside
    // journal is removed: its records are skipped by sequence number.
    let previous = fs::read(d.join(PREVIOUS_JOURNAL)).expect("moved-aside journal");
    pending.write(&world).expect("write");
    assert!(!d.join(PREVIOUS_JOURNAL).exists());
    assert_eq!(reopened(&d), (Some(world.clone()), vec![tick(3)]));
    fs::write(d.join(PREVIOUS_JOURNAL), &previous).expect("put it back");
    assert_eq!(reopened(&d), (Some(world.clone()), vec![tick(3)]));
    fs::remove_file(d.join(PREVIOUS_JOURNAL)).expect("remove");

    // Appending goes on in the fresh journal.
    store.append(tick(4)).expect("append");
    assert_eq!(reopened(&d), (Some(world.clone()), vec![tick(3), tick(4)]));
    drop(store);
    fs::remove_dir_all(&d).expect("cleanup");
}

#[test]
fn a_snapshot_begun_aside_and_never_written_is_folded_here_later() {
    let d = dir("aside-failed");
    let (mut store, _) = Store::open(&d).expect("open");
    for n in 1..=COMPACT_EVERY {
        store.append(tick(n)).expect("append");
    }
    assert_eq!(store.wants_snapshot(), Some(Fold::Aside));
    let pending = store.begin_snapshot().expect("begin");
    // Its writer never finished (a failed write, a crash of the thread).
    drop(pending);
    assert_eq!(store.wants_snapshot(), None, "nothing journaled since");
    for n in 1..=COMPACT_EVERY {
        store.append(tick(COMPACT_EVERY + n)).expect("append");
    }
    assert_eq!(store.wants_snapshot(), Some(Fold::Here));
    store.snapshot(&serde_json::json!({})).expect("snapshot");
    assert!(!d.join(PREVIOUS_JOURNAL).exists());
    assert_eq!(store.wants_snapshot(), None);
    assert_eq!(reopened(&d), (Some(serde_json::json!({})), vec![]));
    drop(store);
    fs::remove_dir_all(&d).expect("cleanup");
}
