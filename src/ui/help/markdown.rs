//! The markdown of the help pages, drawn with egui: headings, paragraphs, bullets, tables,
//! code blocks, and `code` / **bold** inside a line. That subset is all the pages use, so a
//! hundred lines do it (a markdown crate would follow egui's releases and pull in HTML,
//! images and links the pages do not need).

use eframe::egui::{self, FontId, RichText, TextFormat, text::LayoutJob};

/// One block of a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    Heading(usize, String),
    Paragraph(String),
    Bullet(String),
    Table(Vec<Vec<String>>),
    Code(String),
}

/// Splits a page into blocks. Lines of a paragraph or bullet are joined; a bullet goes on
/// over indented lines; a table row is a line starting with `|`.
pub fn parse(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with("```") {
            let mut code = Vec::new();
            for inner in lines.by_ref() {
                if inner.trim().starts_with("```") {
                    break;
                }
                code.push(inner);
            }
            blocks.push(Block::Code(code.join("\n")));
        } else if let Some(level) = heading_level(trimmed) {
            blocks.push(Block::Heading(level, trimmed[level..].trim().to_string()));
        } else if trimmed.starts_with('|') {
            let mut rows = vec![cells(trimmed)];
            while let Some(next) = lines
                .peek()
                .map(|l| l.trim())
                .filter(|l| l.starts_with('|'))
            {
                rows.push(cells(next));
                lines.next();
            }
            // The `|---|---|` line under the header only says that it is a header.
            rows.retain(|row| {
                !row.iter()
                    .all(|c| !c.is_empty() && c.chars().all(|ch| "-: ".contains(ch)))
            });
            blocks.push(Block::Table(rows));
        } else if let Some(item) = trimmed.strip_prefix("- ") {
            let mut text = item.to_string();
            while let Some(next) = lines.peek().filter(|l| {
                l.starts_with("  ") && !l.trim().is_empty() && !l.trim().starts_with("- ")
            }) {
                text.push(' ');
                text.push_str(next.trim());
                lines.next();
            }
            blocks.push(Block::Bullet(text));
        } else {
            let mut text = trimmed.to_string();
            while let Some(next) = lines.peek().map(|l| l.trim()).filter(|l| {
                !l.is_empty()
                    && heading_level(l).is_none()
                    && !l.starts_with("- ")
                    && !l.starts_with('|')
                    && !l.starts_with("```")
            }) {
                text.push(' ');
                text.push_str(next);
                lines.next();
            }
            blocks.push(Block::Paragraph(text));
        }
    }
    blocks
}

fn heading_level(line: &str) -> Option<usize> {
    let level = line.chars().take_while(|&c| c == '#').count();
    (1..=3)
        .contains(&level)
        .then_some(level)
        .filter(|&l| line[l..].starts_with(' '))
}

fn cells(row: &str) -> Vec<String> {
    let inner = row.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_string()).collect()
}

/// The headings of a page, as sections can be opened at them.
#[cfg(test)]
pub fn headings(blocks: &[Block]) -> impl Iterator<Item = &str> {
    blocks.iter().filter_map(|b| match b {
        Block::Heading(_, text) => Some(text.as_str()),
        _ => None,
    })
}

/// Draws the blocks; the heading named `mark` (case does not matter) is marked, and
/// scrolled to when `scroll` is set.
pub fn show(ui: &mut egui::Ui, blocks: &[Block], mark: Option<&str>, scroll: bool) {
    for block in blocks {
        match block {
            Block::Heading(level, text) => {
                ui.add_space(if *level == 1 { 4.0 } else { 8.0 });
                let size = match level {
                    1 => 20.0,
                    2 => 16.0,
                    _ => 14.0,
                };
                let wanted = mark.is_some_and(|s| s.eq_ignore_ascii_case(text));
                let mut rich = RichText::new(text).size(size).strong();
                if wanted {
                    rich = rich.background_color(ui.visuals().selection.bg_fill);
                }
                let response = ui.label(rich);
                if wanted && scroll {
                    response.scroll_to_me(Some(egui::Align::TOP));
                }
            }
            Block::Paragraph(text) => {
                ui.label(inline(ui, text));
                ui.add_space(4.0);
            }
            Block::Bullet(text) => {
                ui.horizontal_top(|ui| {
                    ui.label("•");
                    ui.add(egui::Label::new(inline(ui, text)).wrap());
                });
            }
            Block::Table(rows) => {
                table(ui, rows);
                ui.add_space(4.0);
            }
            Block::Code(text) => {
                egui::Frame::group(ui.style()).show(ui, |ui| {
                    ui.label(RichText::new(text).monospace());
                });
            }
        }
    }
}

/// A table as rows of fixed-width columns: short columns (codes, tags) as wide as their
/// longest cell, the others share the rest, so that long texts wrap in their column (a
/// grid would size them by their first, unwrapped layout).
fn table(ui: &mut egui::Ui, rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    if columns == 0 {
        return;
    }
    let longest: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|t| t.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let spacing = 12.0;
    let total = ui.available_width() - spacing * (columns as f32 - 1.0);
    let char_width = 8.0;
    let short: Vec<bool> = longest.iter().map(|&n| n <= 14).collect();
    let fixed: f32 = (0..columns)
        .filter(|&c| short[c])
        .map(|c| longest[c] as f32 * char_width + 8.0)
        .sum();
    let wide = short.iter().filter(|s| !**s).count().max(1) as f32;
    let widths: Vec<f32> = (0..columns)
        .map(|c| {
            if short[c] {
                longest[c] as f32 * char_width + 8.0
            } else {
                ((total - fixed) / wide).max(80.0)
            }
        })
        .collect();
    for (r, row) in rows.iter().enumerate() {
        ui.horizontal_top(|ui| {
            ui.spacing_mut().item_spacing.x = spacing;
            for (c, width) in widths.iter().enumerate() {
                let cell = row.get(c).map(String::as_str).unwrap_or("");
                ui.allocate_ui(egui::vec2(*width, 0.0), |ui| {
                    ui.set_width(*width);
                    // In a row a label would extend, not wrap: say so.
                    if r == 0 {
                        ui.add(egui::Label::new(RichText::new(cell).strong()).wrap());
                    } else {
                        ui.add(egui::Label::new(inline(ui, cell)).wrap());
                    }
                });
            }
        });
        if r == 0 {
            ui.separator();
        } else {
            ui.add_space(2.0);
        }
    }
}

/// A line with `code` spans in monospace and **bold** spans strong.
fn inline(ui: &egui::Ui, text: &str) -> LayoutJob {
    let body = egui::TextStyle::Body.resolve(ui.style());
    let mono = FontId::monospace(body.size);
    let color = ui.visuals().text_color();
    let strong = ui.visuals().strong_text_color();
    let code_bg = ui.visuals().code_bg_color;
    let mut job = LayoutJob::default();
    let mut rest = text;
    // Plain, **bold** or *italic*.
    let plain = |job: &mut LayoutJob, s: &str, bold: bool, italics: bool| {
        job.append(
            s,
            0.0,
            TextFormat {
                font_id: body.clone(),
                color: if bold { strong } else { color },
                italics,
                ..TextFormat::default()
            },
        );
    };
    while !rest.is_empty() {
        let code = rest.find('`');
        let star = rest.find('*');
        match (code, star) {
            (Some(c), s) if s.is_none_or(|s| c < s) => {
                plain(&mut job, &rest[..c], false, false);
                let after = &rest[c + 1..];
                let end = after.find('`').unwrap_or(after.len());
                job.append(
                    &after[..end],
                    0.0,
                    TextFormat {
                        font_id: mono.clone(),
                        color,
                        background: code_bg,
                        ..TextFormat::default()
                    },
                );
                rest = after.get(end + 1..).unwrap_or("");
            }
            (_, Some(b)) if rest[b..].starts_with("**") => {
                plain(&mut job, &rest[..b], false, false);
                let after = &rest[b + 2..];
                let end = after.find("**").unwrap_or(after.len());
                plain(&mut job, &after[..end], true, false);
                rest = after.get(end + 2..).unwrap_or("");
            }
            (_, Some(i)) => {
                plain(&mut job, &rest[..i], false, false);
                let after = &rest[i + 1..];
                let end = after.find('*').unwrap_or(after.len());
                plain(&mut job, &after[..end], false, true);
                rest = after.get(end + 1..).unwrap_or("");
            }
            _ => {
                plain(&mut job, rest, false, false);
                rest = "";
            }
        }
    }
    job.wrap.max_width = ui.available_width().max(100.0);
    job
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_a_page() {
        let blocks = parse(
            "# Title\n\nA paragraph\nthat goes on.\n\n## Section\n- one\n  more\n- two\n\n\
             | a | b |\n|---|---|\n| 1 | `x` |\n\n```\ncode here\n```\n#nota heading\n",
        );
        assert_eq!(
            blocks,
            vec![
                Block::Heading(1, "Title".into()),
                Block::Paragraph("A paragraph that goes on.".into()),
                Block::Heading(2, "Section".into()),
                Block::Bullet("one more".into()),
                Block::Bullet("two".into()),
                Block::Table(vec![
                    vec!["a".into(), "b".into()],
                    vec!["1".into(), "`x`".into()]
                ]),
                Block::Code("code here".into()),
                Block::Paragraph("#nota heading".into()),
            ]
        );
        assert_eq!(headings(&blocks).collect::<Vec<_>>(), ["Title", "Section"]);
    }
}
