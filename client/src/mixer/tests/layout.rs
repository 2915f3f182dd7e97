//! The seed's two layouts, checked by the colours of decoded pictures at each cell.

use super::*;
use crate::mixer::types::content_type as ct;

#[test]
fn left_right_layout_letterboxes_and_stretches_each_cell() {
    let d = dir("left-right");
    let png = d.join("blue.png");
    make(&png, "color=c=blue:size=160x120", &["-frames:v", "1"]);
    let content = vec![
        // 4:3 camera letterboxed in a 16:9 cell: picture at x 40..280, black bars beside it
        item(ct::VIDEO, (0, 90, 320, 180), 1, colour_cam("red")),
        // 4:3 picture stretched over its whole 16:9 cell
        item(
            ct::PIC,
            (320, 90, 320, 180),
            0,
            json!({ "resourceid": png.to_str().unwrap() }),
        ),
    ];
    let (m, probe) = start(cfg(640, 360, 10), content);
    wait_sources(&m, &["ok", "ok"]);
    let f = fresh_frame(&probe, 5);
    assert_shows(&f, 160, 180, RED, "the camera's centre");
    assert_shows(&f, 20, 180, BLACK, "the left letterbox bar");
    assert_shows(&f, 300, 180, BLACK, "the right letterbox bar");
    assert_shows(&f, 480, 180, BLUE, "the picture's centre");
    assert_shows(&f, 330, 100, BLUE, "the stretched picture's corner");
    assert_shows(&f, 320, 40, BLACK, "the canvas above the cells");
    assert_shows(&f, 480, 330, BLACK, "the canvas below the cells");
    m.destroy().unwrap();
    assert!(probe.seen().closed_all, "destroy closes every output");
}

#[test]
fn picture_in_picture_draws_later_items_on_top() {
    let d = dir("pip");
    let png = d.join("blue.png");
    make(&png, "color=c=blue:size=160x90", &["-frames:v", "1"]);
    let full = item(ct::VIDEO, (0, 0, 640, 360), 0, colour_cam("red"));
    let small = item(
        ct::PIC,
        (470, 260, 160, 90),
        1,
        json!({ "filename": png.to_str().unwrap() }),
    );
    let (m, probe) = start(cfg(640, 360, 10), vec![full.clone(), small.clone()]);
    wait_sources(&m, &["ok", "ok"]);
    let f = fresh_frame(&probe, 5);
    assert_shows(&f, 550, 305, BLUE, "the small picture on top");
    assert_shows(&f, 100, 100, RED, "the full-canvas camera");
    assert_shows(&f, 636, 356, RED, "the camera right of and below the small cell");
    assert_shows(&f, 460, 250, RED, "the camera left of and above the small cell");
    // Reversed order: the camera is drawn last and covers the picture.
    m.update_content(vec![small, full]).unwrap();
    let f = fresh_frame(&probe, 5);
    assert_shows(&f, 550, 305, RED, "the camera on top of the picture");
    m.destroy().unwrap();
}

#[test]
fn a_media_file_plays_in_a_loop() {
    let d = dir("media");
    let clip = d.join("clip.mp4");
    make(
        &clip,
        "color=c=yellow:size=160x120:rate=10:duration=1",
        &["-pix_fmt", "yuv420p"],
    );
    let content = vec![item(
        ct::MEDIA,
        (0, 0, 320, 240),
        0,
        json!({ "filename": clip.to_str().unwrap() }),
    )];
    let (m, probe) = start(cfg(320, 240, 10), content);
    wait_sources(&m, &["ok"]);
    // Three times the clip's length: still playing, not ended.
    let t0 = probe.seen().packet_ms.last().copied().unwrap_or(0);
    wait_until(&probe, "3 s of video", |s| {
        s.packet_ms.last().is_some_and(|l| *l >= t0 + 3000)
    });
    assert_eq!(m.sources()[0].state, "ok", "{:?}", m.sources());
    let f = fresh_frame(&probe, 2);
    assert_shows(&f, 160, 120, YELLOW, "the looping clip");
    m.destroy().unwrap();
}
