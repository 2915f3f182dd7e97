//! Bad mixerCfg and mixerContent are refused with the seed's codes; nothing is started.

use super::*;
use crate::mixer::types::content_type as ct;

fn create(c: MixerCfg, content: Vec<MixerContent>) -> Result<Mixer, CrError> {
    Mixer::create("r".into(), c, content, None, Box::new(Probe::default()))
}

fn code(r: Result<impl Sized, CrError>) -> i64 {
    r.err().map(|e| e.code).unwrap_or(err::NOERR)
}

#[test]
fn bad_cfg_and_content_are_refused_with_the_seeds_codes() {
    let cam = || item(ct::VIDEO, (0, 0, 320, 240), 1, colour_cam("red"));
    let with = |f: fn(&mut MixerCfg)| {
        let mut c = cfg(640, 360, 10);
        f(&mut c);
        c
    };
    assert_eq!(code(create(with(|c| c.width = 100), vec![cam()])), err::PARAM_ERR);
    assert_eq!(
        code(create(with(|c| c.width = 7680), vec![cam()])),
        err::RECORD_SIZE_ERR
    );
    assert_eq!(
        code(create(with(|c| c.frame_rate = 0), vec![cam()])),
        err::CFG_RESTRICTED
    );
    assert_eq!(
        code(create(with(|c| c.default_qp = 52), vec![cam()])),
        err::CFG_RESTRICTED
    );
    let bad_items = [
        item(9, (0, 0, 320, 240), 0, json!({})),
        item(ct::VIDEO, (0, 0, 0, 240), 0, colour_cam("red")),
        item(ct::VIDEO, (0, 0, 320, 240), 2, colour_cam("red")),
        item(ct::VIDEO, (0, 0, 320, 240), 0, json!({})),
        item(ct::VIDEO, (0, 0, 320, 240), 0, json!({ "camid": "user1.1" })),
        item(ct::PIC, (0, 0, 320, 240), 0, json!({})),
        item(ct::MEDIA, (0, 0, 320, 240), 0, json!({ "filename": "" })),
        item(
            ct::MEDIA,
            (0, 0, 320, 240),
            0,
            json!({ "filename": "a.mp4", "volume": 101 }),
        ),
        item(
            ct::MEDIA,
            (0, 0, 320, 240),
            0,
            json!({ "filename": "a.mp4", "volume": -1 }),
        ),
        item(
            ct::MEDIA,
            (0, 0, 320, 240),
            0,
            json!({ "filename": "a.mp4", "volume": "loud" }),
        ),
        item(ct::TEXT, (0, 0, 0, 0), 0, json!({})),
        item(ct::TEXT, (0, 0, 0, 0), 0, json!({ "text": "x".repeat(300) })),
        item(ct::SCREEN, (0, 0, 320, 240), 0, json!({ "area": "1,2,3" })),
        item(ct::VIDEO, (99_999, 0, 320, 240), 0, colour_cam("red")),
        item(ct::VIDEO, (0, 0, 100_000, 240), 0, colour_cam("red")),
        item(ct::VIDEO, (0, 0, 320, 240), 0, json!("camid")),
    ];
    for bad in bad_items {
        let r = create(cfg(640, 360, 10), vec![cam(), bad.clone()]);
        assert_eq!(code(r), err::PARAM_ERR, "{bad:?}");
    }
    let many = vec![cam(); 17];
    assert_eq!(code(create(cfg(640, 360, 10), many)), err::CFG_RESTRICTED);
}

#[test]
fn a_running_mixer_refuses_a_bad_update_and_keeps_its_layout_and_passes_output_errors_on() {
    let text = item(ct::TEXT, (0, 0, 0, 0), 0, json!({ "text": "one" }));
    let (m, probe) = start(cfg(320, 240, 10), vec![text.clone()]);
    let bad = item(ct::PIC, (0, 0, 320, 240), 0, json!({}));
    assert_eq!(code(m.update_content(vec![text.clone(), bad])), err::PARAM_ERR);
    assert_eq!(m.sources().len(), 1, "the old layout stays");
    assert_eq!(code(m.add_outputs(vec![out("mem")])), err::FILE_ALREADY_EXIST);
    assert_eq!(
        code(m.add_outputs(vec![out("second"), out("mem")])),
        err::FILE_ALREADY_EXIST
    );
    assert_eq!(
        m.outputs().len(),
        1,
        "a refused call leaves no output behind: {:?}",
        m.outputs()
    );
    assert_eq!(code(m.remove_outputs(vec!["nope".into()])), err::FILE_NOT_EXIST);
    m.remove_outputs(vec!["mem".into()]).unwrap();
    assert!(m.outputs().is_empty());
    m.destroy().unwrap();
    assert!(probe.seen().closed_all);
}

/// The control API keeps mixers in shared state across tasks.
#[test]
fn a_mixer_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Mixer>();
}
