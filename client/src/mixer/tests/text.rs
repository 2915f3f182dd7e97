//! Text and timestamp cells: drawn text, and a timestamp that changes with the time.

use super::*;
use crate::mixer::types::content_type as ct;

/// Pixels of `f` within (x, y, w, h) brighter than 180 (luma).
fn bright(f: &frame::Video, r: (usize, usize, usize, usize)) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    for y in r.1..r.1 + r.3 {
        for x in r.0..r.0 + r.2 {
            if yuv(f, x, y).0 > 180 {
                v.push((x, y));
            }
        }
    }
    v
}

#[test]
fn text_and_timestamp_cells_draw_text_and_the_timestamp_moves_on() {
    let content = vec![
        item(ct::TIMESTAMP, (8, 8, 0, 32), 0, json!({})),
        item(
            ct::TEXT,
            (8, 100, 0, 0),
            0,
            json!({ "text": "Hello 123", "fontSize": 32, "color": "#FFFF00" }),
        ),
    ];
    let (m, probe) = start(cfg(640, 360, 10), content);
    assert_eq!(m.sources().len(), 2);
    wait_until(&probe, "3 s of frames", |s| {
        s.frames.len() > 2 && s.frames.last().unwrap().0 - s.frames[0].0 >= 3000
    });
    m.destroy().unwrap();
    let s = probe.seen();
    let (first, last) = (&s.frames[0].1, &s.frames.last().unwrap().1);
    // "YYYY-MM-DD HH:MM:SS": 19 letters of 24 pixels, 32 tall
    let stamp = (8, 8, 19 * 24, 32);
    let (a, b) = (bright(first, stamp), bright(last, stamp));
    assert!(
        a.len() > 300 && b.len() > 300,
        "timestamp drawn: {} and {} bright pixels",
        a.len(),
        b.len()
    );
    let changed = a.iter().filter(|p| !b.contains(p)).count() + b.iter().filter(|p| !a.contains(p)).count();
    assert!(changed > 20, "the timestamp changed over 3 s ({changed} pixels differ)");
    let yellow = bright(last, (8, 100, 9 * 24, 32))
        .into_iter()
        .filter(|(x, y)| yuv(last, *x, *y).1 < 80)
        .count();
    assert!(yellow > 200, "yellow text drawn ({yellow} pixels)");
    assert_shows(last, 600, 300, BLACK, "the canvas away from the text");
}
