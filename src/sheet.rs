//! The contact sheet: every face of an album in time-lapse order, numbered, with its age, and
//! suspected intruders framed in red, so a person can check the album at a glance.

use crate::leaves::font::draw_text;
use image::{Rgb, RgbImage};

/// How a face is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A keyframe of the time-lapse.
    Used,
    /// A suspected intruder: red frame.
    Flagged,
    /// Left out for another reason (someone else, thinned, low quality): dimmed.
    Unused,
}

pub struct Tile {
    /// The aligned face, any square size.
    pub face: RgbImage,
    /// Shown under the face: digits, `#`, `.`, `?`, `-`, `y` and spaces.
    pub caption: String,
    pub mark: Mark,
}

const TILE: u32 = 192;
const CAPTION: u32 = 28;
const GAP: u32 = 8;
const COLUMNS: u32 = 6;

/// Lays the tiles out in rows of six.
pub fn render(tiles: &[Tile]) -> RgbImage {
    let n = tiles.len().max(1) as u32;
    let cols = n.min(COLUMNS);
    let rows = n.div_ceil(COLUMNS);
    let (cell_w, cell_h) = (TILE + GAP, TILE + CAPTION + GAP);
    let mut sheet =
        RgbImage::from_pixel(cols * cell_w + GAP, rows * cell_h + GAP, Rgb([32, 32, 36]));
    let red = Rgb([220, 40, 40]);
    for (i, tile) in tiles.iter().enumerate() {
        let (x0, y0) = (
            GAP + (i as u32 % COLUMNS) * cell_w,
            GAP + (i as u32 / COLUMNS) * cell_h,
        );
        let mut face = image::imageops::resize(
            &tile.face,
            TILE,
            TILE,
            image::imageops::FilterType::Triangle,
        );
        if tile.mark == Mark::Unused {
            for p in face.pixels_mut() {
                p.0 = p.0.map(|v| (v as u32 * 2 / 5 + 40) as u8);
            }
        }
        image::imageops::replace(&mut sheet, &face, x0 as i64, y0 as i64);
        if tile.mark == Mark::Flagged {
            for t in 0..5 {
                for k in 0..TILE {
                    for (x, y) in [
                        (x0 + k, y0 + t),
                        (x0 + k, y0 + TILE - 1 - t),
                        (x0 + t, y0 + k),
                        (x0 + TILE - 1 - t, y0 + k),
                    ] {
                        sheet.put_pixel(x, y, red);
                    }
                }
            }
        }
        let colour = match tile.mark {
            Mark::Used => Rgb([240, 240, 240]),
            Mark::Flagged => red,
            Mark::Unused => Rgb([130, 130, 130]),
        };
        draw_text(&mut sheet, &tile.caption, x0 + 4, y0 + TILE + 7, 2, colour);
    }
    sheet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flagged_faces_are_framed_red_and_captions_are_drawn() {
        let face = RgbImage::from_pixel(64, 64, Rgb([0, 200, 0]));
        let tiles = vec![
            Tile {
                face: face.clone(),
                caption: "#1 12.5y".into(),
                mark: Mark::Used,
            },
            Tile {
                face,
                caption: "#2 ?".into(),
                mark: Mark::Flagged,
            },
        ];
        let sheet = render(&tiles);
        assert_eq!(
            sheet.dimensions(),
            (2 * (TILE + GAP) + GAP, TILE + CAPTION + 2 * GAP)
        );
        assert_eq!(sheet.get_pixel(GAP + 1, GAP + 1).0, [0, 200, 0]);
        let x2 = GAP + TILE + GAP;
        assert_eq!(sheet.get_pixel(x2 + 1, GAP + 1).0, [220, 40, 40]);
        let caption_row = (GAP..GAP + TILE).any(|x| {
            (GAP + TILE + 7..GAP + TILE + 21).any(|y| sheet.get_pixel(x, y).0 == [240, 240, 240])
        });
        assert!(caption_row, "caption text drawn");
    }
}
