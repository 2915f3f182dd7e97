//! A newcomer's first steps: `deploy/localrecord.sh install` (into a temp prefix, with the binaries
//! this test run built), then the README's first commands exactly as written, found on the PATH.

use crate::helpers::*;
use crate::recorder_support::recorder_bin;
use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn install_puts_both_commands_on_the_path_and_the_readmes_first_steps_work() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    // Both binaries, as the build made them.
    let built = tmp.path().join("built");
    std::fs::create_dir(&built).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_localrecord"), built.join("localrecord")).unwrap();
    std::fs::copy(recorder_bin(), built.join("localrecord-recorder")).unwrap();
    let (prefix, etc, units) = (tmp.path().join("usr"), tmp.path().join("etc"), tmp.path().join("units"));
    run(Command::new(root.join("deploy/localrecord.sh"))
        .arg("install")
        .env("LOCALRECORD_PREBUILT", &built)
        .env("PREFIX", &prefix)
        .env("LOCALRECORD_ETC", &etc)
        .env("LOCALRECORD_SYSTEMD_DIR", &units));

    let unit = std::fs::read_to_string(units.join("localrecord.service")).unwrap();
    let exec = format!(
        "ExecStart={}/bin/localrecord --config {}/localrecord.toml serve",
        prefix.display(),
        etc.display()
    );
    assert!(unit.contains(&exec), "{unit}");
    assert!(unit.contains("User=localrecord") && unit.contains("ProtectSystem=strict"));

    // The README's first steps, with the installed config and the commands from the PATH.
    let db = fresh_database("lr_install").await;
    let path = format!("{}:{}", prefix.join("bin").display(), std::env::var("PATH").unwrap());
    let env = |c: &mut Command| {
        c.env("PATH", &path)
            .env("LOCALRECORD_CONFIG", etc.join("localrecord.toml"))
            .env("LOCALRECORD_DATABASE_URL", &db)
            .env("LOCALRECORD_DATA_DIR", tmp.path().join("data"));
    };
    let mut create = Command::new("sh");
    create.args(["-c", "localrecord app create --sdkappid 1400000001"]);
    env(&mut create);
    let keys: serde_json::Value = serde_json::from_str(&run(&mut create)).unwrap();
    register_secret(keys["SecretKey"].as_str().unwrap());
    register_secret(keys["TicKey"].as_str().unwrap());
    assert_eq!(keys["SdkAppId"], 1400000001);
    let mut sig = Command::new("sh");
    sig.args(["-c", "localrecord usersig --sdkappid 1400000001 --identifier alice"]);
    env(&mut sig);
    let token = run(&mut sig);
    assert!(token.trim().len() > 40, "{token}");
    let mut help = Command::new("sh");
    help.args(["-c", "localrecord-recorder --help"]);
    env(&mut help);
    assert!(run(&mut help).contains("record"));
}
