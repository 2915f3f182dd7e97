//! The mixer commands' requests and answers, as the seed's JavaScript sends and reads them.

use super::*;

fn code(cmd: &str, body: Value) -> i64 {
    match MixerCmd::parse(cmd, body.to_string().as_bytes()) {
        Ok(_) => 0,
        Err(e) => e.code,
    }
}

fn seed_create() -> Value {
    json!({"mixerID": "1",
    "mixerCfg": {"width": 640, "height": 360, "frameRate": 8, "bitRate": 350000, "defaultQP": 28, "gop": 120},
    "mixerContent": [
        {"type": 0, "left": 0, "top": 45, "width": 320, "height": 180, "param": {"camid": "user1.1"}, "keepAspectRatio": 1},
        {"type": 1, "left": 320, "top": 45, "width": 320, "height": 180, "param": {"resourceid": "/tmp/a.png"}}
    ]})
}

#[test]
fn the_seeds_create_parses_with_its_field_names() {
    let c = MixerCmd::parse("CreateLocMixer", seed_create().to_string().as_bytes()).unwrap();
    let MixerCmd::Create { id, cfg, content } = c else {
        panic!("{c:?}")
    };
    assert_eq!(id, "1");
    assert_eq!(
        (cfg.width, cfg.height, cfg.frame_rate, cfg.default_qp, cfg.gop()),
        (640, 360, 8, 28, 120)
    );
    assert_eq!(content.len(), 2);
    assert_eq!((content[0].keep_aspect_ratio, content[1].keep_aspect_ratio), (1, 0));
    assert_eq!(content[1].param["resourceid"], "/tmp/a.png");
}

#[test]
fn every_command_parses() {
    let out = json!({"mixerID": 7, "mixerOutput": [{"type": 0, "filename": "/tmp/1.mp4"}, {"type": 0, "filename": "/tmp/1.flv", "encryptType": 1}]});
    let c = MixerCmd::parse("AddLocMixerOutput", out.to_string().as_bytes()).unwrap();
    let MixerCmd::AddOutputs { id, outputs } = c else {
        panic!()
    };
    assert_eq!((id.as_str(), outputs.len(), outputs[1].encrypt_type), ("7", 2, 1));
    let rm = json!({"mixerID": "1", "nameOrUrls": ["D:/1.mp4"]});
    assert_eq!(
        MixerCmd::parse("RemoveLocMixerOutput", rm.to_string().as_bytes()).unwrap(),
        MixerCmd::RemoveOutputs {
            id: "1".into(),
            names: vec!["D:/1.mp4".into()]
        }
    );
    let upd = json!({"mixerID": "1", "mixerContent": seed_create()["mixerContent"]});
    assert!(matches!(
        MixerCmd::parse("UpdateLocMixerContent", upd.to_string().as_bytes()),
        Ok(MixerCmd::Update { .. })
    ));
    assert_eq!(
        MixerCmd::parse("DestroyLocMixer", br#"{"mixerID":"1"}"#).unwrap(),
        MixerCmd::Destroy { id: "1".into() }
    );
}

#[test]
fn malformed_requests_are_refused_with_the_seeds_codes() {
    assert_eq!(
        MixerCmd::parse("DestroyLocMixer", b"{not json").unwrap_err().code,
        err::PARAM_ERR
    );
    assert_eq!(
        MixerCmd::parse("DestroyLocMixer", b"[1]").unwrap_err().code,
        err::PARAM_ERR
    );
    assert_eq!(
        MixerCmd::parse("DestroyLocMixer", b"").unwrap_err().code,
        err::PARAM_ERR,
        "no mixerID"
    );
    assert_eq!(code("DestroyLocMixer", json!({"mixerID": ""})), err::PARAM_ERR);
    assert_eq!(
        code("DestroyLocMixer", json!({"mixerID": "x".repeat(65)})),
        err::PARAM_ERR
    );
    assert_eq!(code("DestroyLocMixer", json!({"mixerID": "a\nb"})), err::PARAM_ERR);
    assert_eq!(code("DestroyLocMixer", json!({"mixerID": ["1"]})), err::PARAM_ERR);
    let with = |path: &str, v: Value| {
        let mut b = seed_create();
        b.pointer_mut(path).map(|x| *x = v).expect(path);
        code("CreateLocMixer", b)
    };
    assert_eq!(with("/mixerCfg/width", json!(641)), err::PARAM_ERR);
    assert_eq!(with("/mixerCfg/width", json!("640")), err::PARAM_ERR);
    assert_eq!(with("/mixerCfg/width", json!(-8)), err::PARAM_ERR);
    assert_eq!(with("/mixerCfg/width", json!(4096)), err::RECORD_SIZE_ERR);
    assert_eq!(with("/mixerCfg/frameRate", json!(60)), err::CFG_RESTRICTED);
    assert_eq!(with("/mixerCfg/defaultQP", json!(52)), err::CFG_RESTRICTED);
    assert_eq!(with("/mixerCfg", json!({"width": 640})), err::PARAM_ERR);
    assert_eq!(with("/mixerContent", json!([])), err::PARAM_ERR);
    assert_eq!(with("/mixerContent", json!({"type": 0})), err::PARAM_ERR);
    assert_eq!(with("/mixerContent/0/left", json!("zero")), err::PARAM_ERR);
    let many: Vec<Value> = (0..33).map(|_| seed_create()["mixerContent"][0].clone()).collect();
    assert_eq!(with("/mixerContent", json!(many)), err::CFG_RESTRICTED);
    let mut cfg_extra = seed_create();
    cfg_extra["mixerCfg"]["fps"] = json!(8);
    assert_eq!(
        code("CreateLocMixer", cfg_extra),
        err::PARAM_ERR,
        "unknown mixerCfg field"
    );
    assert_eq!(
        code(
            "AddLocMixerOutput",
            json!({"mixerID": "1", "mixerOutput": [{"type": 0}]})
        ),
        err::PARAM_ERR
    );
    assert_eq!(
        code(
            "AddLocMixerOutput",
            json!({"mixerID": "1", "mixerOutput": [{"type": 0, "filename": ""}]})
        ),
        err::PARAM_ERR
    );
    assert_eq!(code("AddLocMixerOutput", json!({"mixerID": "1"})), err::PARAM_ERR);
    assert_eq!(
        code("RemoveLocMixerOutput", json!({"mixerID": "1", "nameOrUrls": []})),
        err::PARAM_ERR
    );
    assert_eq!(
        code(
            "RemoveLocMixerOutput",
            json!({"mixerID": "1", "nameOrUrls": "D:/1.mp4"})
        ),
        err::PARAM_ERR
    );
}

#[test]
fn answers_carry_errcode_and_the_tic_error_envelope() {
    assert_eq!(answer(&Ok(())), json!({"Response": {"errCode": 0}}));
    let refused = answer(&Err(CrError::new(err::RECORDSTARTED, "mixer '1' exists already")));
    assert_eq!(
        refused,
        json!({"Response": {"errCode": 906, "Error": {"Code": 906, "Message": "mixer '1' exists already"}}})
    );
}

#[test]
fn a_layout_file_is_checked_as_create_is() {
    let mut v = seed_create();
    v.as_object_mut().unwrap().remove("mixerID");
    let l = Layout::parse(v.to_string().as_bytes()).unwrap();
    assert_eq!((l.cfg.width, l.content.len()), (640, 2));
    v["mixerCfg"]["frameRate"] = json!(0);
    assert_eq!(
        Layout::parse(v.to_string().as_bytes()).unwrap_err().code,
        err::CFG_RESTRICTED
    );
    assert_eq!(Layout::parse(b"[]").unwrap_err().code, err::PARAM_ERR);
    assert_eq!(Layout::parse(b"\xff").unwrap_err().code, err::PARAM_ERR);
}

#[tokio::test]
async fn unknown_mixers_are_file_not_exist() {
    let mixers = Mixers::new(Default::default());
    assert_eq!(mixers.destroy("9").await.unwrap_err().code, err::FILE_NOT_EXIST);
    let r = mixers.with("9", |m| m.update_content(vec![])).await;
    assert_eq!(r.unwrap_err().code, err::FILE_NOT_EXIST);
    assert!(mixers.views().await.is_empty());
}
