//! Sources that cannot open or that end show a placeholder and are reported; the other cells
//! still draw and frames keep coming.

use super::*;
use crate::mixer::types::content_type as ct;

#[test]
fn failing_sources_show_a_placeholder_and_are_reported_while_the_rest_records() {
    let d = dir("failing");
    let huge = d.join("huge.png");
    make(&huge, "color=c=white:size=8200x16", &["-frames:v", "1"]);
    let content = vec![
        item(ct::VIDEO, (0, 0, 320, 180), 0, colour_cam("red")),
        item(
            ct::PIC,
            (320, 0, 320, 180),
            0,
            json!({ "resourceid": "/nonexistent/lr-mixer/x.png" }),
        ),
        item(
            ct::VIDEO,
            (0, 180, 320, 180),
            0,
            json!({ "camid": "v4l2:/dev/lr-mixer-no-such-camera" }),
        ),
        // a "camera" that vanishes after a second
        item(
            ct::VIDEO,
            (320, 180, 320, 180),
            0,
            json!({ "camid": "lavfi:color=c=blue:size=160x120:rate=10:duration=1" }),
        ),
        // a picture wider than the sources accept
        item(
            ct::PIC,
            (600, 320, 40, 40),
            0,
            json!({ "filename": huge.to_str().unwrap() }),
        ),
    ];
    let (m, probe) = start(cfg(640, 360, 10), content);
    wait_sources(&m, &["ok", "failed", "failed", "failed", "failed"]);
    let sources = m.sources();
    assert!(
        sources[1..]
            .iter()
            .all(|s| s.error.as_ref().is_some_and(|e| !e.is_empty())),
        "{sources:?}"
    );
    assert!(
        sources[1].error.as_ref().unwrap().contains("no such file"),
        "{sources:?}"
    );
    let f = fresh_frame(&probe, 10);
    assert_shows(&f, 160, 90, RED, "the working camera");
    assert_shows(&f, 480, 90, GREY, "the missing picture's placeholder");
    assert_shows(&f, 160, 270, GREY, "the missing camera's placeholder");
    assert_shows(&f, 480, 270, GREY, "the vanished camera's placeholder");
    m.destroy().unwrap();
}
