//! Tables of records that remember what a change touched.
//!
//! Every kind of record the world keeps (VPCs, endpoints, the host blocks in
//! use, ...) sits in a [`Table`]. Reads go straight to the map underneath;
//! every write first keeps the record's image from before the change. When a
//! change ends, the engine either takes the kept images back ([`Tracked::undo`],
//! a failing command changes nothing) or turns them into [`Written`]
//! records, what the change wrote and removed, serialised once for the
//! journal; the journal reads them back as [`Effect`]s.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::ops::Deref;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// One record written (`value` is the record) or removed (`value` is
/// `None`, written without a `value` field) by a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// Empty for tables outside every region.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub region: String,
    pub table: String,
    pub key: Value,
    /// A record may be `null` (a table of keys only): present is written.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub value: Option<Value>,
}

/// One record written or removed by a change, as the engine journals it:
/// key and record serialised straight to JSON text, without building a
/// value tree first. Written in the shape of an [`Effect`], and read back
/// as one.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub region: String,
    pub table: String,
    pub key: Box<RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Box<RawValue>>,
}

impl Written {
    /// The effect this record reads back as.
    pub fn to_effect(&self) -> Result<Effect, serde_json::Error> {
        Ok(Effect {
            region: self.region.clone(),
            table: self.table.clone(),
            key: serde_json::from_str(self.key.get())?,
            value: self.value.as_ref().map(|v| serde_json::from_str(v.get())).transpose()?,
        })
    }
}

impl PartialEq for Written {
    fn eq(&self, other: &Written) -> bool {
        self.region == other.region
            && self.table == other.table
            && self.key.get() == other.key.get()
            && self.value.as_ref().map(|v| v.get()) == other.value.as_ref().map(|v| v.get())
    }
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Records of one kind, by key.
#[derive(Debug, Clone)]
pub struct Table<K, V> {
    rows: BTreeMap<K, V>,
    /// The image before the open change of every record it touched (`None`:
    /// the record did not exist).
    before: BTreeMap<K, Option<V>>,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table { rows: BTreeMap::new(), before: BTreeMap::new() }
    }
}

impl<K, V> Deref for Table<K, V> {
    type Target = BTreeMap<K, V>;

    fn deref(&self) -> &BTreeMap<K, V> {
        &self.rows
    }
}

impl<K: Ord + Clone, V: Clone> Table<K, V> {
    fn keep<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: ?Sized + Ord + ToOwned<Owned = K>,
    {
        if !self.before.contains_key(key) {
            self.before.insert(key.to_owned(), self.rows.get(key).cloned());
        }
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Ord + ToOwned<Owned = K>,
    {
        if !self.rows.contains_key(key) {
            return None;
        }
        self.keep(key);
        self.rows.get_mut(key)
    }

    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.keep(&key);
        self.rows.insert(key, value)
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ?Sized + Ord + ToOwned<Owned = K>,
    {
        if !self.rows.contains_key(key) {
            return None;
        }
        self.keep(key);
        self.rows.remove(key)
    }

    /// The record at `key`, made from `V::default()` when there is none.
    pub fn entry_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        self.keep(&key);
        self.rows.entry(key).or_default()
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let gone: Vec<K> = self.rows.iter().filter(|(k, v)| !keep(k, v)).map(|(k, _)| k.clone()).collect();
        for k in gone {
            self.keep(&k);
            self.rows.remove(&k);
        }
    }

    /// Whether the open change touched this table.
    pub fn is_touched(&self) -> bool {
        !self.before.is_empty()
    }
}

/// What the engine needs of every table, whatever its records.
pub trait Tracked {
    /// Takes back every write of the open change.
    fn undo(&mut self);
    /// Appends the records the open change wrote and removed to `out`.
    fn changes(&self, region: &str, table: &str, out: &mut Vec<Written>);
    /// Ends the open change: what the table holds now stays.
    fn settle(&mut self);
    /// Writes one journaled record.
    fn apply(&mut self, key: &Value, value: Option<&Value>) -> Result<(), String>;
}

impl<K, V> Tracked for Table<K, V>
where
    K: Ord + Clone + Serialize + DeserializeOwned,
    V: Clone + PartialEq + Serialize + DeserializeOwned,
{
    fn undo(&mut self) {
        for (k, before) in std::mem::take(&mut self.before) {
            match before {
                Some(v) => self.rows.insert(k, v),
                None => self.rows.remove(&k),
            };
        }
    }

    fn changes(&self, region: &str, table: &str, out: &mut Vec<Written>) {
        use serde_json::value::to_raw_value;
        for (k, before) in &self.before {
            let now = self.rows.get(k);
            if before.as_ref() == now {
                continue;
            }
            let (Ok(key), Ok(value)) = (to_raw_value(k), now.map(to_raw_value).transpose()) else {
                // Every record type serialises; a failure here is a bug in
                // a record type, not something input can cause.
                tracing::error!(table, "a record does not serialise; it is not journaled");
                continue;
            };
            out.push(Written { region: region.to_string(), table: table.to_string(), key, value });
        }
    }

    fn settle(&mut self) {
        self.before.clear();
    }

    fn apply(&mut self, key: &Value, value: Option<&Value>) -> Result<(), String> {
        let k: K = K::deserialize(key).map_err(|e| format!("key {key}: {e}"))?;
        match value {
            Some(v) => {
                let v: V = V::deserialize(v).map_err(|e| format!("record {key}: {e}"))?;
                self.rows.insert(k, v);
            }
            None => {
                self.rows.remove(&k);
            }
        }
        Ok(())
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for Table<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Table { rows: iter.into_iter().collect(), before: BTreeMap::new() }
    }
}

/// A table with string keys is written as a JSON object, as the map it is.
impl<K: Serialize, V: Serialize> Serialize for Table<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.rows.serialize(s)
    }
}

impl<'de, K: Ord + Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Table<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Table { rows: BTreeMap::deserialize(d)?, before: BTreeMap::new() })
    }
}

/// A table of keys only, written as a JSON list of its keys.
pub mod as_set {
    use super::*;

    pub fn serialize<K: Serialize, S: Serializer>(t: &Table<K, ()>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(t.rows.keys())
    }

    pub fn deserialize<'de, K: Ord + Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Table<K, ()>, D::Error> {
        Ok(Vec::<K>::deserialize(d)?.into_iter().map(|k| (k, ())).collect())
    }
}

/// A table whose keys are not strings, written as a JSON list of
/// `[key, value]` pairs in key order.
pub mod as_pairs {
    use super::*;

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(t: &Table<K, V>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(t.rows.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<Table<K, V>, D::Error>
    where
        K: Ord + Deserialize<'de>,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table<String, u32> {
        let mut t: Table<String, u32> = [("a".to_string(), 1), ("b".to_string(), 2)].into_iter().collect();
        t.settle();
        t
    }

    #[test]
    fn undo_takes_back_every_kind_of_write() {
        let mut t = table();
        let before = t.rows.clone();
        *t.get_mut("a").expect("a") = 10;
        *t.get_mut("a").expect("a") = 11;
        t.insert("c".into(), 3);
        t.remove("b");
        *t.entry_or_default("d".into()) += 4;
        t.retain(|_, v| *v != 3);
        assert!(t.is_touched());
        t.undo();
        assert_eq!(t.rows, before);
        assert!(!t.is_touched());
    }

    #[test]
    fn changes_are_only_what_differs() {
        let mut t = table();
        *t.get_mut("a").expect("a") = 1; // same value
        t.insert("c".into(), 3);
        t.remove("b");
        t.insert("e".into(), 5);
        t.remove("e"); // created and removed: no change
        let mut out = Vec::new();
        t.changes("r", "numbers", &mut out);
        let got: Vec<(Value, Option<Value>)> = out.iter().map(read_back).map(|e| (e.key, e.value)).collect();
        assert_eq!(got, vec![("b".into(), None), ("c".into(), Some(3.into()))]);
    }

    /// What the journal reads back of a written record.
    fn read_back(w: &Written) -> Effect {
        let json = serde_json::to_string(w).expect("serialises");
        serde_json::from_str(&json).expect("reads back as an effect")
    }

    #[test]
    fn written_records_read_back_as_the_effects_they_were() {
        let mut t: Table<String, Option<u32>> = Table::default();
        t.insert("null".into(), None);
        t.insert("one".into(), Some(1));
        let mut out = Vec::new();
        t.changes("r", "options", &mut out);
        t.settle();
        t.remove("one");
        t.changes("", "options", &mut out);
        let got: Vec<Effect> = out.iter().map(read_back).collect();
        let effect = |region: &str, key: &str, value: Option<Value>| Effect {
            region: region.into(),
            table: "options".into(),
            key: key.into(),
            value,
        };
        assert_eq!(
            got,
            vec![effect("r", "null", Some(Value::Null)), effect("r", "one", Some(1.into())), effect("", "one", None)]
        );
    }

    #[test]
    fn a_null_record_is_not_a_removal() {
        let written =
            Effect { region: String::new(), table: "host_blocks".into(), key: 3.into(), value: Some(Value::Null) };
        let removed = Effect { value: None, ..written.clone() };
        for e in [written, removed] {
            let json = serde_json::to_string(&e).expect("serialises");
            assert_eq!(serde_json::from_str::<Effect>(&json).expect("parses"), e, "{json}");
        }
    }

    #[test]
    fn changes_rebuild_the_table() {
        let mut t = table();
        let mut copy = t.clone();
        t.insert("z".into(), 26);
        t.remove("a");
        *t.get_mut("b").expect("b") = 20;
        let mut out = Vec::new();
        t.changes("", "numbers", &mut out);
        for e in out.iter().map(read_back) {
            copy.apply(&e.key, e.value.as_ref()).expect("applies");
        }
        assert_eq!(copy.rows, t.rows);
    }
}
