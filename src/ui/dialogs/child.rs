//! What every child dialog (server, notification method, DNS server, zone, e-mail
//! defaults) shares: a [`Draft`] of the one item it edits, and how its parent shows it and
//! takes its result.

use std::ops::{Deref, DerefMut};

use eframe::egui;

use crate::model::ValidationError;
use crate::ui::forms::{Outcome, ParseErrors, Validated};
use crate::ui::help::HelpTopic;

/// A copy of one item of a list in the parent's draft (or a new one), with where it sits,
/// its last validation and the texts that do not parse yet. It reads as the item itself.
pub struct Draft<T> {
    /// Where the item sits in its list; `None` for a new one (added at the end).
    pub index: Option<usize>,
    pub value: T,
    validated: Validated<T>,
    pub parse_errors: ParseErrors,
}

impl<T: Clone + PartialEq> Draft<T> {
    pub fn new(index: Option<usize>, value: T) -> Self {
        Self {
            index,
            value,
            validated: Validated::default(),
            parse_errors: ParseErrors::default(),
        }
    }

    /// The errors of the value; `check` runs only when the value changed since last time.
    pub fn errors(
        &mut self,
        check: impl FnOnce(&T) -> Vec<ValidationError>,
    ) -> Vec<ValidationError> {
        self.validated.errors(&self.value, check)
    }
}

impl<T> Deref for Draft<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Draft<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

/// A dialog over a [`Draft`]: drawn each frame until OK or Cancel, then its result is
/// taken by the parent.
pub trait ChildDialog {
    type Item;

    fn show(&mut self, ctx: &egui::Context, help: &mut Option<HelpTopic>) -> Outcome;
    /// Where the item goes in the parent's list.
    fn index(&self) -> Option<usize>;
    /// The edited item, tidied (blank lines dropped and the like).
    fn result(&self) -> Self::Item;
}

/// Shows `dialog`; on OK its result takes its place in `list`. Whether it is done (OK or
/// Cancel), so that the parent closes it.
pub fn edit_in_list<D: ChildDialog>(
    dialog: &mut D,
    list: &mut Vec<D::Item>,
    ctx: &egui::Context,
    help: &mut Option<HelpTopic>,
) -> bool {
    edit(dialog, ctx, help, |item, index| put(list, index, item))
}

/// Shows `dialog`; on OK its result replaces `value`. Whether it is done.
pub fn edit_in_place<D: ChildDialog>(
    dialog: &mut D,
    value: &mut D::Item,
    ctx: &egui::Context,
    help: &mut Option<HelpTopic>,
) -> bool {
    edit(dialog, ctx, help, |item, _| *value = item)
}

fn edit<D: ChildDialog>(
    dialog: &mut D,
    ctx: &egui::Context,
    help: &mut Option<HelpTopic>,
    take: impl FnOnce(D::Item, Option<usize>),
) -> bool {
    match dialog.show(ctx, help) {
        Outcome::Ok => {
            take(dialog.result(), dialog.index());
            true
        }
        Outcome::Cancel => true,
        Outcome::Open => false,
    }
}

/// `item` at `index` of `items`, or added at the end.
pub fn put<T>(items: &mut Vec<T>, index: Option<usize>, item: T) {
    match index {
        Some(i) if i < items.len() => items[i] = item,
        _ => items.push(item),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_replaces_in_place_or_adds_at_the_end() {
        let mut items = vec![1, 2];
        put(&mut items, Some(0), 9);
        put(&mut items, None, 3);
        put(&mut items, Some(7), 4);
        assert_eq!(items, [9, 2, 3, 4]);
    }
}
