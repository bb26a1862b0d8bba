use std::io::Write;

use super::*;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("privatelink-persist-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn tick(now: u64) -> Op {
    Op::Tick { now, seed: now * 7 }
}

#[test]
fn appended_operations_come_back_in_order() {
    let d = dir("order");
    {
        let (mut store, restored) = Store::open(&d).expect("open");
        assert!(restored.world.is_none() && restored.ops.is_empty());
        for n in 1..=5 {
            let seq = store.append(tick(n)).expect("append");
            store.syncer().sync_through(seq).expect("sync");
        }
    }
    let (_, restored) = Store::open(&d).expect("reopen");
    assert_eq!(restored.ops, (1..=5).map(tick).collect::<Vec<_>>());
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
        assert_eq!(restored.ops, vec![tick(1), tick(2)]);
        assert_eq!(restored.dropped, 10);
        store.append(tick(3)).expect("append after the cut");
    }
    let (_, restored) = Store::open(&d).expect("reopen");
    assert_eq!(restored.ops, vec![tick(1), tick(2), tick(3)]);
    assert_eq!(restored.dropped, 0);
    fs::remove_dir_all(&d).expect("cleanup");
}

#[test]
fn a_snapshot_folds_the_journal_and_later_operations_follow_it() {
    let d = dir("snapshot");
    {
        let (mut store, _) = Store::open(&d).expect("open");
        store.append(tick(1)).expect("append");
        store.snapshot(serde_json::json!({"regions": {}})).expect("snapshot");
        store.append(tick(2)).expect("append");
    }
    assert!(!d.join(format!("{SNAPSHOT}.tmp")).exists());
    let (_, restored) = Store::open(&d).expect("reopen");
    assert_eq!(restored.world, Some(serde_json::json!({"regions": {}})));
    assert_eq!(restored.ops, vec![tick(2)]);
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
        store.snapshot(serde_json::json!({})).expect("snapshot");
    }
    fs::write(d.join(JOURNAL), &journal_copy).expect("restore old journal");
    let (_, restored) = Store::open(&d).expect("reopen");
    assert!(restored.ops.is_empty(), "{:?}", restored.ops);
    fs::remove_dir_all(&d).expect("cleanup");
}
