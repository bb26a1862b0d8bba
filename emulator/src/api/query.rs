//! AWS Query protocol parameters: `Action=...&Name.1=...&Filter.1.Value.1=...`.

use std::collections::BTreeMap;

use super::xml::is_xml_char;
use super::Protocol;
use crate::model::{Error, Filter, Result, Tags};

/// The characters XML 1.0 can carry, in the notation of AWS's validation
/// messages (STS's models constrain ARNs with the same set).
const XML_CHARS: &str = r"[\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]*";

/// The decoded form parameters of one request.
#[derive(Debug, Clone, Default)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    /// Parses a urlencoded body (and/or query string). Duplicate keys keep
    /// the last value, as AWS does.
    pub fn parse(raw: &[u8]) -> Params {
        let map = form_urlencoded::parse(raw).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        Params { map }
    }

    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Params {
        Params { map: pairs.into_iter().collect() }
    }

    /// Every parameter, in key order.
    pub fn pairs(&self) -> impl Iterator<Item = (&String, &String)> {
        self.map.iter()
    }

    pub fn extend(&mut self, other: Params) {
        self.map.extend(other.map);
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Refuses a request whose parameter names or values hold a character
    /// XML 1.0 cannot carry: stored, it would make every later answer that
    /// echoes it unparseable. The error names the first such parameter, with
    /// the code the service answers for a value it cannot take (EC2:
    /// InvalidParameterValue, ELBv2 and STS: ValidationError).
    pub fn check_characters(&self, protocol: Protocol) -> Result<()> {
        let clean = |s: &str| s.chars().all(is_xml_char);
        let Some((name, value)) = self.map.iter().find(|(k, v)| !clean(k) || !clean(v)) else {
            return Ok(());
        };
        let err = match (protocol, clean(name)) {
            (Protocol::Ec2, true) => Error::invalid_value(
                name,
                &shown(value),
                "It holds a character XML cannot carry (a control character other than tab, \
                 line feed or carriage return, or U+FFFE or U+FFFF).",
            ),
            (Protocol::Ec2, false) => {
                Error::new("UnknownParameter", format!("The parameter {} is not recognized", shown(name)))
            }
            (_, true) => Error::validation(format!(
                "1 validation error detected: Value '{}' at '{name}' failed to satisfy constraint: \
                 Member must satisfy regular expression pattern: {XML_CHARS}",
                shown(value)
            )),
            (_, false) => Error::validation(format!(
                "1 validation error detected: the parameter name '{}' failed to satisfy constraint: \
                 Member must satisfy regular expression pattern: {XML_CHARS}",
                shown(name)
            )),
        };
        Err(err)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    pub fn required(&self, name: &str) -> Result<&str> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(Error::missing(name)),
        }
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(Error::invalid_value(name, v, "Expected a boolean (true or false).")),
        }
    }

    pub fn flag(&self, name: &str) -> Result<bool> {
        Ok(self.bool(name)?.unwrap_or(false))
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => {
                v.trim().parse::<i64>().map(Some).map_err(|_| Error::invalid_value(name, v, "Expected an integer."))
            }
        }
    }

    /// The entries `prefix.N...` grouped by N, in N order, each with the
    /// `prefix.N.` part stripped (a plain `prefix.N` value has key "").
    pub fn indexed(&self, prefix: &str) -> Vec<Params> {
        let dotted = format!("{prefix}.");
        let mut groups: BTreeMap<u32, Params> = BTreeMap::new();
        for (k, v) in self.map.range(dotted.clone()..) {
            let Some(rest) = k.strip_prefix(&dotted) else {
                break;
            };
            let (n, tail) = match rest.split_once('.') {
                Some((n, tail)) => (n, tail),
                None => (rest, ""),
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            groups.entry(n).or_default().map.insert(tail.to_string(), v.clone());
        }
        groups.into_values().collect()
    }

    /// `prefix.1`, `prefix.2`, ... (EC2 lists).
    pub fn list(&self, prefix: &str) -> Vec<String> {
        self.indexed(prefix).into_iter().filter_map(|p| p.string("")).collect()
    }

    /// `prefix.member.1`, ... (ELBv2 lists).
    pub fn members(&self, prefix: &str) -> Vec<Params> {
        self.indexed(&format!("{prefix}.member"))
    }

    pub fn member_list(&self, prefix: &str) -> Vec<String> {
        self.list(&format!("{prefix}.member"))
    }

    /// `Filter.N.Name` / `Filter.N.Value.M`.
    pub fn filters(&self) -> Result<Vec<Filter>> {
        self.indexed("Filter")
            .into_iter()
            .map(|f| {
                let name = f.get("Name").ok_or_else(|| Error::missing("Filter.N.Name"))?.to_string();
                Ok(Filter { name, values: f.list("Value") })
            })
            .collect()
    }

    /// Tags of `TagSpecification.N` for one resource type; other types are
    /// an error, as in EC2.
    pub fn tag_specifications(&self, resource_type: &str) -> Result<Tags> {
        let mut tags = Tags::new();
        for spec in self.indexed("TagSpecification") {
            let rt = spec.get("ResourceType").unwrap_or(resource_type);
            if rt != resource_type {
                return Err(Error::new(
                    "InvalidParameterValue",
                    format!("'{rt}' is not a valid taggable resource type for this operation."),
                ));
            }
            let pairs = spec.tag_pairs("Tag", "Key", "Value")?;
            crate::model::tags::validate(&pairs)?;
            tags.extend(pairs);
        }
        Ok(tags)
    }

    /// `prefix.N.Key` / `prefix.N.Value` pairs.
    pub fn tag_pairs(&self, prefix: &str, key: &str, value: &str) -> Result<Vec<(String, String)>> {
        self.indexed(prefix)
            .into_iter()
            .map(|t| {
                let k = t.get(key).ok_or_else(|| Error::missing(&format!("{prefix}.N.{key}")))?;
                Ok((k.to_string(), t.get(value).unwrap_or("").to_string()))
            })
            .collect()
    }
}

/// A value as an error message echoes it: characters XML cannot carry
/// shown as U+FFFD, and at most 64 characters.
fn shown(s: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = s.chars().take(MAX).map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' }).collect();
    if s.chars().nth(MAX).is_some() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_filters() {
        let p = Params::parse(
            b"Action=X&SubnetId.2=b&SubnetId.1=a&SubnetId.10=c&Filter.1.Name=vpc-id&Filter.1.Value.1=v1&Filter.1.Value.2=v2&Subnets.member.1=s",
        );
        assert_eq!(p.list("SubnetId"), vec!["a", "b", "c"]);
        let f = p.filters().unwrap();
        assert_eq!(f[0].name, "vpc-id");
        assert_eq!(f[0].values, vec!["v1", "v2"]);
        assert_eq!(p.member_list("Subnets"), vec!["s"]);
        assert!(p.list("Missing").is_empty());
    }

    #[test]
    fn typed_values() {
        let p = Params::parse(b"A=true&B=nope&C=12&D=x&E=");
        assert_eq!(p.bool("A").unwrap(), Some(true));
        assert_eq!(p.bool("B").unwrap_err().code, "InvalidParameterValue");
        assert_eq!(p.int("C").unwrap(), Some(12));
        assert!(p.int("D").is_err());
        assert_eq!(p.required("E").unwrap_err().code, "MissingParameter");
        assert_eq!(p.required("Z").unwrap_err().code, "MissingParameter");
    }

    #[test]
    fn characters_xml_cannot_carry_are_refused_with_the_service_code() {
        let p = Params::parse(b"Action=CreateTags&Tag.1.Key=Name&Tag.1.Value=a%01b&ResourceId.1=vpc-1");
        let e = p.check_characters(Protocol::Ec2).unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue");
        assert!(e.message.starts_with("Value (a\u{FFFD}b) for parameter Tag.1.Value is invalid."), "{}", e.message);
        let e = p.check_characters(Protocol::Elbv2).unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(
            e.message.contains("Value 'a\u{FFFD}b' at 'Tag.1.Value' failed to satisfy constraint"),
            "{}",
            e.message
        );
        assert_eq!(p.check_characters(Protocol::Sts).unwrap_err().code, "ValidationError");
        // In a name too, and U+FFFE/U+FFFF as well as C0 controls.
        let e = Params::parse(b"Action=DescribeVpcs&Vpc%00Id.1=x").check_characters(Protocol::Ec2).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("UnknownParameter", "The parameter Vpc\u{FFFD}Id.1 is not recognized")
        );
        let e = Params::parse("Description=x\u{FFFF}".as_bytes()).check_characters(Protocol::Ec2).unwrap_err();
        assert!(e.message.contains("parameter Description "), "{}", e.message);
        // Long values are cut in the message.
        let long = format!("GroupDescription={}%07", "x".repeat(500));
        let e = Params::parse(long.as_bytes()).check_characters(Protocol::Ec2).unwrap_err();
        assert!(e.message.len() < 300 && e.message.contains("xxx...)"), "{}", e.message);
        // Tab, line feed, carriage return and everything else XML carries pass.
        let fine = Params::parse("A=a%09b%0Ac%0Dd&B=\u{e9}\u{1F600}\u{FFFD}&C=".as_bytes());
        for protocol in [Protocol::Ec2, Protocol::Elbv2, Protocol::Sts] {
            assert!(fine.check_characters(protocol).is_ok());
        }
    }

    #[test]
    fn garbage_never_panics() {
        for raw in [&b"%%%"[..], b"&&==&", b"\xff\xfe", b"a.1.b.2.c=3&a.x=1", b"Filter.1.Value.1=x"] {
            let p = Params::parse(raw);
            let _ = p.filters();
            let _ = p.indexed("a");
            let _ = p.tag_specifications("vpc");
        }
    }
}
