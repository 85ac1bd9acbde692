//! What the composed broadcast shows: from the session's publishes and the
//! instructor's layout, the layout in effect and a rectangle per tile. Pure:
//! no GStreamer, tested on its own.

use crate::db::Layout;
use crate::media::PublishKind;

/// A publish as the composition sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    /// The publish's WHIP resource.
    pub id: String,
    pub kind: PublishKind,
    /// Its picture may be shown and its sound heard in the broadcast: false
    /// for a participant who has not consented to a session that records.
    pub shown: bool,
}

/// A rectangle on the canvas, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

/// One publish's place in the picture (absent from the plan: not shown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tile {
    pub id: String,
    pub rect: Rect,
    /// Drawn above the tiles with a lower `z`.
    pub z: u32,
    /// A neutral placeholder instead of the picture (no consent).
    pub placeholder: bool,
}

/// The layout the broadcast shows for the instructor's choice: `auto`
/// resolves to screen, stage or speaker; a choice whose subject is absent
/// (screen with nobody sharing) falls back as `auto` would.
pub fn effective(chosen: Layout, seats: &[Seat]) -> Layout {
    let sharing = seats.iter().any(|s| s.kind == PublishKind::Screen);
    let on_stage = seats.iter().any(|s| s.kind == PublishKind::Stage);
    let automatic = if sharing {
        Layout::Screen
    } else if on_stage {
        Layout::Stage
    } else {
        Layout::Speaker
    };
    match chosen {
        Layout::Auto => automatic,
        Layout::Screen if !sharing => automatic,
        Layout::Stage if !on_stage => Layout::Speaker,
        other => other,
    }
}

/// The tiles of `layout` (an effective one) on a `width`×`height` canvas.
pub fn tiles(layout: Layout, seats: &[Seat], width: i32, height: i32) -> Vec<Tile> {
    let camera = seats.iter().find(|s| s.kind == PublishKind::Camera);
    let screen = seats.iter().find(|s| s.kind == PublishKind::Screen);
    let stage: Vec<&Seat> = seats
        .iter()
        .filter(|s| s.kind == PublishKind::Stage)
        .collect();
    let full = Rect {
        x: 0,
        y: 0,
        width,
        height,
    };
    match layout {
        Layout::Screen => {
            let Some(screen) = screen else {
                return tiles(Layout::Speaker, seats, width, height);
            };
            // The screen fills the picture; the cameras sit in a row of
            // small tiles along its bottom right, the instructor's last
            // (in the corner).
            let mut out = vec![tile(screen, full, 0)];
            let pip_w = width / 5;
            let pip_h = pip_w * 9 / 16;
            let margin = width / 64;
            let cameras = stage.iter().copied().chain(camera);
            let count = stage.len() + usize::from(camera.is_some());
            for (i, seat) in cameras.enumerate() {
                let from_right = (count - i) as i32;
                let rect = Rect {
                    x: width - from_right * (pip_w + margin),
                    y: height - pip_h - margin,
                    width: pip_w,
                    height: pip_h,
                };
                out.push(tile(seat, rect, 1));
            }
            out
        }
        Layout::Stage => {
            let people: Vec<&Seat> = camera.into_iter().chain(stage).collect();
            grid(&people, width, height)
        }
        Layout::Speaker | Layout::Auto => match camera.or(stage.first().copied()).or(screen) {
            Some(seat) => vec![tile(seat, full, 0)],
            None => Vec::new(),
        },
    }
}

/// Whose sound the broadcast carries: everyone shown, in any layout (a
/// student on stage is heard while the screen fills the picture).
pub fn heard(seats: &[Seat]) -> Vec<String> {
    seats
        .iter()
        .filter(|s| s.shown)
        .map(|s| s.id.clone())
        .collect()
}

fn tile(seat: &Seat, rect: Rect, z: u32) -> Tile {
    Tile {
        id: seat.id.clone(),
        rect,
        z,
        placeholder: !seat.shown,
    }
}

/// Equal cells, as square a grid as the count allows; a last row that is
/// not full is centred.
fn grid(people: &[&Seat], width: i32, height: i32) -> Vec<Tile> {
    let n = people.len() as i32;
    if n == 0 {
        return Vec::new();
    }
    let columns = (1..=n).find(|c| c * c >= n).unwrap_or(n);
    let rows = (n + columns - 1) / columns;
    let cell_w = width / columns;
    let cell_h = height / rows;
    people
        .iter()
        .enumerate()
        .map(|(i, seat)| {
            let (row, col) = (i as i32 / columns, i as i32 % columns);
            let in_row = if row == rows - 1 {
                n - row * columns
            } else {
                columns
            };
            let offset = (width - in_row * cell_w) / 2;
            let rect = Rect {
                x: offset + col * cell_w,
                y: row * cell_h,
                width: cell_w,
                height: cell_h,
            };
            tile(seat, rect, 0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(id: &str, kind: PublishKind) -> Seat {
        Seat {
            id: id.into(),
            kind,
            shown: true,
        }
    }

    fn ids(tiles: &[Tile]) -> Vec<&str> {
        tiles.iter().map(|t| t.id.as_str()).collect()
    }

    #[test]
    fn auto_shows_the_screen_then_the_stage_then_the_speaker() {
        let cam = seat("cam", PublishKind::Camera);
        let scr = seat("scr", PublishKind::Screen);
        let ada = seat("ada", PublishKind::Stage);
        assert_eq!(
            effective(Layout::Auto, std::slice::from_ref(&cam)),
            Layout::Speaker
        );
        assert_eq!(
            effective(Layout::Auto, &[cam.clone(), ada.clone()]),
            Layout::Stage
        );
        assert_eq!(
            effective(Layout::Auto, &[cam.clone(), ada, scr]),
            Layout::Screen
        );
        // A choice with nothing to show falls back.
        assert_eq!(
            effective(Layout::Screen, std::slice::from_ref(&cam)),
            Layout::Speaker
        );
        assert_eq!(
            effective(Layout::Stage, std::slice::from_ref(&cam)),
            Layout::Speaker
        );
        assert_eq!(effective(Layout::Speaker, &[cam]), Layout::Speaker);
    }

    #[test]
    fn the_stage_is_a_grid_of_the_instructor_and_the_students() {
        let seats = [
            seat("ada", PublishKind::Stage),
            seat("cam", PublishKind::Camera),
            seat("alan", PublishKind::Stage),
            seat("scr", PublishKind::Screen),
        ];
        let t = tiles(Layout::Stage, &seats, 1280, 720);
        assert_eq!(ids(&t), ["cam", "ada", "alan"]);
        // 2×2, the last row centred.
        assert_eq!(
            t[0].rect,
            Rect {
                x: 0,
                y: 0,
                width: 640,
                height: 360
            }
        );
        assert_eq!(
            t[1].rect,
            Rect {
                x: 640,
                y: 0,
                width: 640,
                height: 360
            }
        );
        assert_eq!(
            t[2].rect,
            Rect {
                x: 320,
                y: 360,
                width: 640,
                height: 360
            }
        );
        let two = tiles(Layout::Stage, &seats[..2], 1280, 720);
        assert_eq!(
            two[0].rect,
            Rect {
                x: 0,
                y: 0,
                width: 640,
                height: 720
            }
        );
    }

    #[test]
    fn the_screen_fills_the_picture_with_the_instructor_in_the_corner() {
        let seats = [
            seat("cam", PublishKind::Camera),
            seat("scr", PublishKind::Screen),
            seat("ada", PublishKind::Stage),
        ];
        let t = tiles(Layout::Screen, &seats, 1280, 720);
        assert_eq!(ids(&t), ["scr", "ada", "cam"]);
        assert_eq!(
            t[0].rect,
            Rect {
                x: 0,
                y: 0,
                width: 1280,
                height: 720
            }
        );
        let cam = &t[2].rect;
        assert_eq!(cam.x + cam.width, 1280 - 20);
        assert_eq!(cam.y + cam.height, 720 - 20);
        assert!(t[1].rect.x + t[1].rect.width <= cam.x);
        assert!(t[1..].iter().all(|pip| pip.z > t[0].z));
    }

    #[test]
    fn without_consent_a_tile_is_a_placeholder_and_silent() {
        let mut bob = seat("bob", PublishKind::Stage);
        bob.shown = false;
        let seats = [seat("cam", PublishKind::Camera), bob];
        let t = tiles(Layout::Stage, &seats, 1280, 720);
        assert!(!t[0].placeholder);
        assert!(t[1].placeholder);
        assert_eq!(heard(&seats), ["cam"]);
    }

    #[test]
    fn speaker_falls_back_to_whoever_publishes() {
        let seats = [seat("ada", PublishKind::Stage)];
        assert_eq!(ids(&tiles(Layout::Speaker, &seats, 1280, 720)), ["ada"]);
        assert!(tiles(Layout::Speaker, &[], 1280, 720).is_empty());
    }
}
