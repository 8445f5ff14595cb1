//! A reader for the XML subset the first generation wrote: elements, attributes in single or
//! double quotes, text and CDATA, the five predefined entities and numeric character
//! references, comments, processing instructions and the declaration.
//!
//! Elements go into a flat arena (children are indexes), so neither reading, walking nor
//! dropping recurses: a file nested a million deep cannot overflow the stack. Every step is
//! linear in the file's size (lines are counted from the previous tag, not from the start).

use std::collections::BTreeMap;

use super::ImportError;

/// One element.
#[derive(Debug, Default)]
pub(super) struct Node {
    pub name: String,
    pub attributes: BTreeMap<String, String>,
    /// The line of its start tag.
    pub line: usize,
    pub children: Vec<usize>,
    /// Its text (entities resolved), the pieces between its children joined.
    pub text: String,
    /// The line where its first non-blank text starts (0 = none).
    pub text_line: usize,
}

/// A whole file.
#[derive(Debug, Default)]
pub(super) struct Document {
    pub nodes: Vec<Node>,
    /// Top-level elements, in order.
    pub roots: Vec<usize>,
    /// Elements still open at the end of the file (a file cut short).
    pub unclosed: Vec<usize>,
}

pub(super) fn error(line: usize, message: &str) -> ImportError {
    ImportError {
        line,
        message: message.to_string(),
    }
}

/// Reads the text of a file into its elements.
pub(super) fn read(xml: &str) -> Result<Document, ImportError> {
    let mut doc = Document::default();
    let mut stack: Vec<usize> = Vec::new();
    let mut rest = xml;
    let mut line = 1;
    let mut counted = 0;
    let mut line_of = |rest: &str| {
        let at = xml.len() - rest.len();
        line += xml[counted..at].matches('\n').count();
        counted = at;
        line
    };
    loop {
        let text_end = rest.find('<').unwrap_or(rest.len());
        if text_end > 0 {
            let here = line_of(rest);
            let raw = &rest[..text_end];
            add_text(&mut doc, &stack, &unescape(raw), here + leading_lines(raw))?;
        }
        rest = &rest[text_end..];
        if rest.is_empty() {
            break;
        }
        let line = line_of(rest);
        if let Some(after) = rest.strip_prefix("<!--") {
            let end = after
                .find("-->")
                .ok_or_else(|| error(line, "unterminated comment"))?;
            rest = &after[end + 3..];
        } else if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = after
                .find("]]>")
                .ok_or_else(|| error(line, "unterminated CDATA section"))?;
            let raw = &after[..end];
            add_text(&mut doc, &stack, raw, line + leading_lines(raw))?;
            rest = &after[end + 3..];
        } else if let Some(after) = rest.strip_prefix("<?") {
            let end = after
                .find("?>")
                .ok_or_else(|| error(line, "unterminated declaration"))?;
            rest = &after[end + 2..];
        } else if rest.starts_with("<!") {
            let end = rest
                .find('>')
                .ok_or_else(|| error(line, "unterminated declaration"))?;
            rest = &rest[end + 1..];
        } else {
            let (tag, consumed) = read_tag(&rest[1..], line)?;
            rest = &rest[1 + consumed..];
            if tag.closing {
                let Some(open) = stack.pop() else {
                    return Err(error(
                        line,
                        &format!("</{}> closes no open element", tag.name),
                    ));
                };
                let node = &doc.nodes[open];
                if node.name != tag.name {
                    return Err(error(
                        line,
                        &format!(
                            "</{}> does not close <{}> of line {}",
                            tag.name, node.name, node.line
                        ),
                    ));
                }
                continue;
            }
            let index = doc.nodes.len();
            doc.nodes.push(Node {
                name: tag.name,
                attributes: tag.attributes,
                line,
                ..Node::default()
            });
            match stack.last() {
                Some(&parent) => doc.nodes[parent].children.push(index),
                None => doc.roots.push(index),
            }
            if !tag.self_closing {
                stack.push(index);
            }
        }
    }
    doc.unclosed = stack;
    Ok(doc)
}

/// How many lines a text starts below where it begins (its leading blank lines).
fn leading_lines(raw: &str) -> usize {
    let blank = raw.len() - raw.trim_start().len();
    raw[..blank].matches('\n').count()
}

fn add_text(
    doc: &mut Document,
    stack: &[usize],
    text: &str,
    line: usize,
) -> Result<(), ImportError> {
    let blank = text.trim().is_empty();
    match stack.last() {
        Some(&open) => {
            let node = &mut doc.nodes[open];
            if !blank && node.text_line == 0 {
                node.text_line = line;
            }
            node.text.push_str(text);
            Ok(())
        }
        None if blank => Ok(()),
        None => Err(error(line, "text outside any element")),
    }
}

/// One start or end tag.
struct Tag {
    name: String,
    attributes: BTreeMap<String, String>,
    closing: bool,
    self_closing: bool,
}

/// Reads one tag after its `<`; returns it and how many bytes it took (up to its `>`).
fn read_tag(text: &str, line: usize) -> Result<(Tag, usize), ImportError> {
    let closing = text.starts_with('/');
    let mut i = usize::from(closing);
    let bytes = text.as_bytes();
    let name_start = i;
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' && bytes[i] != b'/'
    {
        i += 1;
    }
    let name = text[name_start..i].to_string();
    if name.is_empty() {
        return Err(error(line, "a tag without a name"));
    }
    let mut attributes = BTreeMap::new();
    let skip_blanks = |i: &mut usize| {
        while *i < bytes.len() && bytes[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_blanks(&mut i);
        match bytes.get(i) {
            None => return Err(error(line, &format!("<{name}> is not closed with >"))),
            Some(b'>') => {
                let tag = Tag {
                    name,
                    attributes,
                    closing,
                    self_closing: false,
                };
                return Ok((tag, i + 1));
            }
            Some(b'/') if bytes.get(i + 1) == Some(&b'>') && !closing => {
                let tag = Tag {
                    name,
                    attributes,
                    closing,
                    self_closing: true,
                };
                return Ok((tag, i + 2));
            }
            Some(_) if closing => {
                return Err(error(line, &format!("</{name}> cannot have attributes")));
            }
            Some(_) => {
                let key_start = i;
                while i < bytes.len()
                    && bytes[i] != b'='
                    && !bytes[i].is_ascii_whitespace()
                    && bytes[i] != b'>'
                {
                    i += 1;
                }
                let key = text[key_start..i].to_string();
                skip_blanks(&mut i);
                if bytes.get(i) != Some(&b'=') {
                    return Err(error(
                        line,
                        &format!("attribute {key} of <{name}> has no value"),
                    ));
                }
                i += 1;
                skip_blanks(&mut i);
                let quote = match bytes.get(i) {
                    Some(q @ (b'"' | b'\'')) => *q,
                    _ => {
                        return Err(error(
                            line,
                            &format!("the value of {key} must be in quotes"),
                        ));
                    }
                };
                let value_start = i + 1;
                let end = text[value_start..]
                    .find(quote as char)
                    .ok_or_else(|| error(line, &format!("the value of {key} is not closed")))?;
                let value = unescape(&text[value_start..value_start + end]);
                if attributes.contains_key(&key) {
                    // XML forbids it, and keeping either value would lose the other silently.
                    return Err(error(
                        line,
                        &format!("attribute {key} of <{name}> is given twice"),
                    ));
                }
                attributes.insert(key, value);
                i = value_start + end + 1;
            }
        }
    }
}

/// Resolves `&lt;` `&gt;` `&quot;` `&apos;` `&amp;` and `&#NN;` / `&#xHH;` in one pass; an
/// `&` that starts none of them is kept as written (v1 files edited by hand have them).
pub(super) fn unescape(value: &str) -> String {
    if !value.contains('&') {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        // Entities are short: look for the `;` within a few bytes only, so that a long
        // text full of bare `&` stays linear.
        let window = &rest.as_bytes()[..rest.len().min(12)];
        let resolved = window.iter().position(|&b| b == b';').and_then(|end| {
            let entity = &rest[1..end];
            let c = match entity {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "amp" => Some('&'),
                _ => entity.strip_prefix('#').and_then(|n| {
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => n.parse().ok(),
                    };
                    code.and_then(char::from_u32)
                }),
            };
            c.map(|c| (c, end + 1))
        });
        match resolved {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn entities_and_references() {
        assert_eq!(
            unescape("a &amp; b &lt;c&gt; &quot;&apos; &#65;&#x42; & &unknown; &#xD800;"),
            "a & b <c> \"' AB & &unknown; &#xD800;"
        );
    }

    #[test]
    fn text_cdata_and_lines() {
        let doc = read("<a>\n  <b x='1'/>\n\n  hello &amp; <![CDATA[<raw>]]>\n</a>").unwrap();
        let a = &doc.nodes[doc.roots[0]];
        assert_eq!(a.children.len(), 1);
        assert_eq!(a.text.trim(), "hello & <raw>");
        assert_eq!(a.text_line, 4);
        assert_eq!(doc.nodes[a.children[0]].line, 2);
        assert!(doc.unclosed.is_empty());
    }

    #[test]
    fn structure_errors_name_the_line() {
        let e = read("<a>\n<b>\n</a>").unwrap_err();
        assert_eq!(e.to_string(), "line 3: </a> does not close <b> of line 2");
        let e = read("<a/>\n</a>").unwrap_err();
        assert_eq!(e.to_string(), "line 2: </a> closes no open element");
        let e = read("<a x='1' x='2'/>").unwrap_err();
        assert_eq!(e.to_string(), "line 1: attribute x of <a> is given twice");
        let e = read("<a/>\nstray").unwrap_err();
        assert_eq!(e.to_string(), "line 2: text outside any element");
        let doc = read("<a><b>").unwrap();
        assert_eq!(doc.unclosed, vec![0, 1]);
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let depth = 200_000;
        let xml = "<a>".repeat(depth);
        let doc = read(&xml).unwrap();
        assert_eq!(doc.nodes.len(), depth);
        assert_eq!(doc.unclosed.len(), depth);
    }
}
