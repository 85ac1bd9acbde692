//! The broadcast layout: the instructor's choice per session, and the log of
//! layouts the composition showed (a recording's chapter marks).

use serde::{Deserialize, Serialize};

use super::exec::args;
use super::{get, Db, DbError};

/// What the composed broadcast (HLS, the recording) shows when several
/// people publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Screen when sharing, stage when a student is on stage, else speaker.
    #[default]
    Auto,
    /// The instructor only.
    Speaker,
    /// The instructor and the students on stage in a grid.
    Stage,
    /// The screen share large, the instructor picture-in-picture.
    Screen,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Auto => "auto",
            Layout::Speaker => "speaker",
            Layout::Stage => "stage",
            Layout::Screen => "screen",
        }
    }

    pub fn parse(s: &str) -> Option<Layout> {
        [Layout::Auto, Layout::Speaker, Layout::Stage, Layout::Screen]
            .into_iter()
            .find(|l| l.as_str() == s)
    }

    /// A chapter's title in a recording.
    pub fn title(self) -> &'static str {
        match self {
            Layout::Auto => "Automatic",
            Layout::Speaker => "Speaker",
            Layout::Stage => "Stage",
            Layout::Screen => "Screen share",
        }
    }
}

/// A layout the broadcast showed from `at` (ms since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chapter {
    pub at: i64,
    pub layout: Layout,
}

impl Db {
    /// Stores the instructor's layout as of `at_ms`; a write older than the
    /// stored one changes nothing (false).
    pub async fn set_layout(
        &self,
        session_id: &str,
        layout: Layout,
        at_ms: i64,
    ) -> Result<bool, DbError> {
        self.changed(
            "INSERT INTO broadcast_settings (session_id, layout, updated_at) \
             VALUES ($1, $2, $3) ON CONFLICT (session_id) DO UPDATE \
             SET layout = excluded.layout, updated_at = excluded.updated_at \
             WHERE broadcast_settings.updated_at <= excluded.updated_at",
            args![session_id, layout.as_str(), at_ms],
        )
        .await
    }

    /// The instructor's layout (`Auto` when never set).
    pub async fn layout(&self, session_id: &str) -> Result<Layout, DbError> {
        let row = self
            .row(
                "SELECT layout FROM broadcast_settings WHERE session_id = $1",
                args![session_id],
            )
            .await?;
        match row {
            Some(row) => {
                let text: String = get(&row, "layout")?;
                Layout::parse(&text).ok_or_else(|| DbError::Corrupt(format!("layout {text:?}")))
            }
            None => Ok(Layout::Auto),
        }
    }

    /// The broadcast shows `layout` from `at_ms` on.
    pub async fn add_chapter(
        &self,
        session_id: &str,
        layout: Layout,
        at_ms: i64,
    ) -> Result<(), DbError> {
        self.run(
            "INSERT INTO broadcast_chapters (session_id, at, layout) VALUES ($1, $2, $3)",
            args![session_id, at_ms, layout.as_str()],
        )
        .await
    }

    /// The layouts the broadcast showed in `[from_ms, to_ms]`, oldest first,
    /// with the one already showing at `from_ms` (if any) as the first.
    pub async fn chapters(
        &self,
        session_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Chapter>, DbError> {
        let rows = self
            .rows(
                "SELECT at, layout FROM broadcast_chapters WHERE session_id = $1 AND at <= $2 \
                 ORDER BY at",
                args![session_id, to_ms],
            )
            .await?;
        let mut all = Vec::with_capacity(rows.len());
        for row in &rows {
            let text: String = get(row, "layout")?;
            let layout =
                Layout::parse(&text).ok_or_else(|| DbError::Corrupt(format!("layout {text:?}")))?;
            all.push(Chapter {
                at: get(row, "at")?,
                layout,
            });
        }
        Ok(in_range(all, from_ms))
    }
}

/// The chapters from `from_ms` on, the one showing at `from_ms` moved to it,
/// and repeats of the same layout merged.
fn in_range(all: Vec<Chapter>, from_ms: i64) -> Vec<Chapter> {
    let mut out: Vec<Chapter> = Vec::new();
    let showing = all.iter().rev().find(|c| c.at <= from_ms).cloned();
    let later = all.into_iter().filter(|c| c.at > from_ms);
    for c in showing
        .map(|c| Chapter {
            at: from_ms,
            layout: c.layout,
        })
        .into_iter()
        .chain(later)
    {
        if out.last().is_some_and(|l| l.layout == c.layout) {
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(at: i64, layout: Layout) -> Chapter {
        Chapter { at, layout }
    }

    #[test]
    fn chapters_start_with_what_showed_and_merge_repeats() {
        let all = vec![
            ch(10, Layout::Speaker),
            ch(20, Layout::Stage),
            ch(30, Layout::Stage),
            ch(40, Layout::Screen),
        ];
        assert_eq!(
            in_range(all, 25),
            vec![ch(25, Layout::Stage), ch(40, Layout::Screen)]
        );
        assert_eq!(
            in_range(vec![ch(50, Layout::Screen)], 25),
            vec![ch(50, Layout::Screen)]
        );
    }

    #[test]
    fn layouts_round_trip_through_their_names() {
        for l in [Layout::Auto, Layout::Speaker, Layout::Stage, Layout::Screen] {
            assert_eq!(Layout::parse(l.as_str()), Some(l));
        }
        assert_eq!(Layout::parse("grid"), None);
    }
}
