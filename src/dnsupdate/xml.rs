//! The little XML that Route 53 speaks: elements, text and the five entities (plus
//! numeric references), read into a tree. No DTDs, no CDATA (Route 53 sends neither).

/// Why a document is not the XML this reader takes; the text says where it went wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("an unclosed end tag")]
    UnclosedEndTag,
    #[error("an end tag too many")]
    EndTagTooMany,
    #[error("</{found}> closes <{open}>")]
    Mismatched { found: String, open: String },
    #[error("an unclosed tag")]
    UnclosedTag,
    #[error("a tag without a name")]
    NoName,
    #[error("<{0}> is not closed")]
    NotClosed(String),
    #[error("no element")]
    NoElement,
    #[error("more than one root element")]
    SeveralRoots,
    #[error("no closing {0}")]
    NoClosing(&'static str),
    #[error("text outside the root element")]
    TextOutside,
    #[error("an unterminated entity")]
    UnterminatedEntity,
    #[error("unknown entity &{0};")]
    UnknownEntity(String),
}

/// One element: its local name (prefix dropped), its text and its children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// Parses a document into its root element.
    pub fn parse(text: &str) -> Result<Element, XmlError> {
        let mut stack: Vec<Element> = vec![Element::default()];
        let mut rest = text;
        while !rest.is_empty() {
            let Some(open) = rest.find('<') else {
                push_text(&mut stack, rest)?;
                break;
            };
            push_text(&mut stack, &rest[..open])?;
            rest = &rest[open..];
            if let Some(after) = rest.strip_prefix("<?") {
                rest = skip_past(after, "?>")?;
            } else if let Some(after) = rest.strip_prefix("<!--") {
                rest = skip_past(after, "-->")?;
            } else if let Some(after) = rest.strip_prefix("</") {
                let end = after.find('>').ok_or(XmlError::UnclosedEndTag)?;
                let name = local(after[..end].trim());
                let element = stack.pop().ok_or(XmlError::EndTagTooMany)?;
                if element.name != name || stack.is_empty() {
                    return Err(XmlError::Mismatched {
                        found: name.to_string(),
                        open: element.name,
                    });
                }
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(element);
                }
                rest = &after[end + 1..];
            } else {
                let end = rest.find('>').ok_or(XmlError::UnclosedTag)?;
                let inner = &rest[1..end];
                let (inner, closed) = match inner.strip_suffix('/') {
                    Some(inner) => (inner, true),
                    None => (inner, false),
                };
                let name = local(inner.split_whitespace().next().unwrap_or(""));
                if name.is_empty() {
                    return Err(XmlError::NoName);
                }
                let element = Element {
                    name: name.to_string(),
                    ..Element::default()
                };
                if closed {
                    if let Some(parent) = stack.last_mut() {
                        parent.children.push(element);
                    }
                } else {
                    stack.push(element);
                }
                rest = &rest[end + 1..];
            }
        }
        let mut document = stack.pop().ok_or(XmlError::NoElement)?;
        if !stack.is_empty() {
            return Err(XmlError::NotClosed(document.name));
        }
        match document.children.len() {
            1 => Ok(document.children.remove(0)),
            0 => Err(XmlError::NoElement),
            _ => Err(XmlError::SeveralRoots),
        }
    }

    /// The children named `name`.
    pub fn children<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a Element> + use<'a, 'n> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first element named `name` at any depth below this one.
    pub fn find(&self, name: &str) -> Option<&Element> {
        self.children.iter().find_map(|c| {
            if c.name == name {
                Some(c)
            } else {
                c.find(name)
            }
        })
    }

    /// The text of the first child named `name`, or "".
    pub fn text_of(&self, name: &str) -> &str {
        self.children(name).next().map_or("", |c| c.text.as_str())
    }
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

fn skip_past<'a>(text: &'a str, end: &'static str) -> Result<&'a str, XmlError> {
    text.find(end)
        .map(|i| &text[i + end.len()..])
        .ok_or(XmlError::NoClosing(end))
}

fn push_text(stack: &mut [Element], raw: &str) -> Result<(), XmlError> {
    if raw.trim().is_empty() {
        return Ok(());
    }
    let text = unescape(raw)?;
    match stack.last_mut() {
        Some(element) if !element.name.is_empty() => {
            element.text.push_str(text.trim());
            Ok(())
        }
        _ => Err(XmlError::TextOutside),
    }
}

fn unescape(raw: &str) -> Result<String, XmlError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after.find(';').ok_or(XmlError::UnterminatedEntity)?;
        let entity = &after[..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = entity.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| XmlError::UnknownEntity(entity.to_string()))?
            }
        };
        out.push(c);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Escapes text for an element's content.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_route53_answers() {
        let doc = r#"<?xml version="1.0"?>
<ListHostedZonesByNameResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
  <!-- a comment -->
  <HostedZones><HostedZone><Id>/hostedzone/Z1</Id><Name>a&amp;b.test.</Name><Config/></HostedZone>
  <HostedZone><Id>/hostedzone/Z2</Id><Name>&#x41;&#66;.test.</Name></HostedZone></HostedZones>
  <IsTruncated>false</IsTruncated>
</ListHostedZonesByNameResponse>"#;
        let root = Element::parse(doc).unwrap();
        assert_eq!(root.name, "ListHostedZonesByNameResponse");
        let zones: Vec<_> = root
            .find("HostedZones")
            .unwrap()
            .children("HostedZone")
            .collect();
        assert_eq!(zones[0].text_of("Name"), "a&b.test.");
        assert_eq!(zones[1].text_of("Name"), "AB.test.");
        assert!(zones[0].find("Config").is_some());
        assert_eq!(root.text_of("IsTruncated"), "false");
        assert!(Element::parse("<a><b></a>").is_err());
        assert!(Element::parse("<a>").is_err());
        assert!(Element::parse("not xml").is_err());
        assert!(Element::parse("<a>&bogus;</a>").is_err());
        assert_eq!(escape("a<b&c>"), "a&lt;b&amp;c&gt;");
    }
}
