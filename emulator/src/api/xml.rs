//! A small XML writer that knows AWS's response shapes.

use std::fmt::Write;

pub const EC2_NS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";
pub const ELBV2_NS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";
pub const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

#[derive(Default)]
pub struct Xml {
    buf: String,
}

/// Whether XML 1.0 can carry `c` at all (its `Char` production): not the
/// C0 controls other than tab, line feed and carriage return, nor U+FFFE and
/// U+FFFF. Surrogates cannot occur in a Rust string.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Writes `s` as XML text. A character XML 1.0 cannot carry becomes U+FFFD,
/// so the document parses whatever a value holds (requests refuse such
/// characters, but a world imported or journaled earlier may still hold
/// them); a carriage return is written as a reference, so a parser gives it
/// back instead of folding it into a line feed.
pub fn escape(s: &str, out: &mut String) {
    // Runs between special characters are copied whole: policy documents are
    // JSON full of quotes, and a per-char push would dominate a Describe.
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let (entity, len) = match bytes[i] {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'"' => ("&quot;", 1),
            b'\'' => ("&apos;", 1),
            b'\r' => ("&#xD;", 1),
            b'\t' | b'\n' => {
                i += 1;
                continue;
            }
            0..=0x1f => ("\u{FFFD}", 1),
            // U+FFFE and U+FFFF are EF BF BE and EF BF BF in UTF-8.
            0xef if matches!(bytes.get(i + 1..i + 3), Some([0xbf, 0xbe | 0xbf])) => ("\u{FFFD}", 3),
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&s[start..i]);
        out.push_str(entity);
        i += len;
        start = i;
    }
    out.push_str(&s[start..]);
}

impl Xml {
    pub fn new() -> Xml {
        Xml { buf: String::with_capacity(1024) }
    }

    pub fn into_string(self) -> String {
        self.buf
    }

    pub fn raw(&mut self, s: &str) {
        self.buf.push_str(s);
    }

    /// `<name>..children..</name>`
    fn open(&mut self, name: &str) {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push('>');
    }

    fn close(&mut self, name: &str) {
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
    }

    pub fn node(&mut self, name: &str, body: impl FnOnce(&mut Xml)) {
        self.open(name);
        body(self);
        self.close(name);
    }

    /// `<name>value</name>`, escaped.
    pub fn leaf(&mut self, name: &str, value: impl AsRef<str>) {
        self.open(name);
        escape(value.as_ref(), &mut self.buf);
        self.close(name);
    }

    pub fn opt(&mut self, name: &str, value: Option<impl AsRef<str>>) {
        if let Some(v) = value {
            self.leaf(name, v);
        }
    }

    pub fn bool(&mut self, name: &str, value: bool) {
        self.leaf(name, if value { "true" } else { "false" });
    }

    pub fn num(&mut self, name: &str, value: impl std::fmt::Display) {
        self.open(name);
        let _ = write!(self.buf, "{value}");
        self.close(name);
    }

    /// A list in EC2's style: `<name><item>..</item>...</name>`.
    pub fn items<T>(&mut self, name: &str, items: impl IntoIterator<Item = T>, mut each: impl FnMut(&mut Xml, T)) {
        self.node(name, |x| {
            for item in items {
                x.node("item", |x| each(x, item));
            }
        });
    }

    /// A list of plain strings in EC2's style.
    pub fn item_strings<S: AsRef<str>>(&mut self, name: &str, items: impl IntoIterator<Item = S>) {
        self.node(name, |x| {
            for s in items {
                x.leaf("item", s);
            }
        });
    }

    /// A list in ELBv2's style: `<Name><member>..</member></Name>`.
    pub fn members<T>(&mut self, name: &str, items: impl IntoIterator<Item = T>, mut each: impl FnMut(&mut Xml, T)) {
        self.node(name, |x| {
            for item in items {
                x.node("member", |x| each(x, item));
            }
        });
    }

    pub fn member_strings<S: AsRef<str>>(&mut self, name: &str, items: impl IntoIterator<Item = S>) {
        self.node(name, |x| {
            for s in items {
                x.leaf("member", s);
            }
        });
    }
}

/// ISO 8601 with milliseconds, as AWS writes timestamps.
pub fn timestamp(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_lists() {
        let mut x = Xml::new();
        x.items("set", ["a<b", "c"], |x, s| x.leaf("v", s));
        assert_eq!(x.into_string(), "<set><item><v>a&lt;b</v></item><item><v>c</v></item></set>");
        let mut out = String::new();
        escape("{\"k\": 'é&ü'}<>", &mut out);
        assert_eq!(out, "{&quot;k&quot;: &apos;é&amp;ü&apos;}&lt;&gt;");
        assert_eq!(timestamp(1_638_715_000_123), "2021-12-05T14:36:40.123Z");
    }

    #[test]
    fn characters_xml_cannot_carry_become_replacement_characters() {
        let mut out = String::new();
        escape("a\u{0}b\u{1}c\td\ne\rf\u{1f}g\u{FFFE}h\u{FFFF}i\u{FFFD}j\u{10FFFF}&", &mut out);
        assert_eq!(out, "a\u{FFFD}b\u{FFFD}c\td\ne&#xD;f\u{FFFD}g\u{FFFD}h\u{FFFD}i\u{FFFD}j\u{10FFFF}&amp;");
        assert!(out.chars().all(is_xml_char));
        // Neighbours of the refused ranges are carried as they are.
        let mut out = String::new();
        escape("\u{20}\u{7f}\u{D7FF}\u{E000}\u{FFFD}\u{10000}\u{FFFC}", &mut out);
        assert_eq!(out, "\u{20}\u{7f}\u{D7FF}\u{E000}\u{FFFD}\u{10000}\u{FFFC}");
        for c in ['\u{0}', '\u{8}', '\u{b}', '\u{c}', '\u{1f}', '\u{FFFE}', '\u{FFFF}'] {
            assert!(!is_xml_char(c), "{c:?}");
        }
        for c in ['\t', '\n', '\r', ' ', '\u{85}', '\u{D7FF}', '\u{E000}', '\u{FFFD}', '\u{10000}', '\u{10FFFF}'] {
            assert!(is_xml_char(c), "{c:?}");
        }
    }
}
