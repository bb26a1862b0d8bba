//! A small tree of an AWS XML answer, enough to read EC2's `<item>` lists
//! and ELBv2's `<member>` lists.

use quick_xml::events::Event;
use quick_xml::Reader;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn parse(xml: &str) -> Result<Element, String> {
        let mut reader = Reader::from_str(xml);
        let mut stack: Vec<Element> = vec![Element::default()];
        loop {
            match reader.read_event().map_err(|e| e.to_string())? {
                Event::Start(s) => {
                    let name = String::from_utf8_lossy(s.local_name().as_ref()).into_owned();
                    stack.push(Element { name, ..Default::default() });
                }
                Event::Empty(s) => {
                    let name = String::from_utf8_lossy(s.local_name().as_ref()).into_owned();
                    if let Some(parent) = stack.last_mut() {
                        parent.children.push(Element { name, ..Default::default() });
                    }
                }
                Event::Text(t) => {
                    let text = t.decode().map_err(|e| e.to_string())?;
                    let text = quick_xml::escape::unescape(&text).map_err(|e| e.to_string())?;
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&text);
                    }
                }
                Event::GeneralRef(r) => {
                    let name = String::from_utf8_lossy(&r).into_owned();
                    let ch = match name.as_str() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        _ => "",
                    };
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(ch);
                    }
                }
                Event::End(_) => {
                    let done = stack.pop().ok_or("unbalanced XML")?;
                    stack.last_mut().ok_or("unbalanced XML")?.children.push(done);
                }
                Event::Eof => break,
                _ => {}
            }
        }
        let mut root = stack.pop().ok_or("empty XML")?;
        match root.children.len() {
            1 => Ok(root.children.remove(0)),
            _ => Err("expected one root element".into()),
        }
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of a direct child, or "".
    pub fn text_of(&self, name: &str) -> String {
        self.child(name).map(|c| c.text.trim().to_string()).unwrap_or_default()
    }

    /// The first element with this name anywhere below, depth first.
    pub fn find(&self, name: &str) -> Option<&Element> {
        for c in &self.children {
            if c.name == name {
                return Some(c);
            }
            if let Some(found) = c.find(name) {
                return Some(found);
            }
        }
        None
    }

    /// The entries of a list (`<name><item>..</item></name>` or `<member>`).
    pub fn list(&self, name: &str) -> Vec<&Element> {
        self.find(name).map(|l| l.children.iter().collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_aws_shapes() {
        let e = Element::parse(
            "<?xml version=\"1.0\"?><R xmlns=\"x\"><requestId>1</requestId><set><item><a>x&amp;y</a></item><item><a>z</a></item></set><e/></R>",
        )
        .unwrap();
        assert_eq!(e.name, "R");
        let items = e.list("set");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].text_of("a"), "x&y");
        assert!(e.child("e").is_some());
    }
}
