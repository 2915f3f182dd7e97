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

    // The installed server, then the README's requests exactly as written (its port aside), with
    // the UserSig from the README's own `SIG=$(...)` line.
    let port = free_port();
    let mut serve = Command::new("sh");
    serve
        .args(["-c", "exec localrecord serve"])
        .env("LOCALRECORD_LISTEN", format!("127.0.0.1:{port}"));
    env(&mut serve);
    let mut server = ServeGuard(serve.spawn().unwrap());
    let health = format!("http://127.0.0.1:{port}/health");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while reqwest::get(&health).await.is_err() {
        assert!(std::time::Instant::now() < until, "the installed serve did not come up");
        assert!(server.0.try_wait().unwrap().is_none(), "the installed serve exited");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let steps = first_steps(&readme);
    let sig_line = steps[0]
        .lines()
        .find(|l| l.starts_with("SIG=$("))
        .expect("the README's first steps set SIG");
    let script = format!(
        "set -e\n{sig_line}\n{}",
        steps[1].replace("localhost:8080", &format!("localhost:{port}"))
    );
    let mut requests = Command::new("sh");
    requests.args(["-c", &script]);
    env(&mut requests);
    let out = run(&mut requests);
    assert!(out.contains("\"SdkAppId\":1400000001"), "{out}");
    assert!(out.contains("\"TaskId\":\"1400000001-1212-"), "{out}");
}

/// Kills the installed server when the test ends, however it ends.
struct ServeGuard(std::process::Child);

impl Drop for ServeGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `sh` blocks of the README's "First steps" section.
fn first_steps(readme: &str) -> Vec<String> {
    let section = readme
        .split("\n## First steps\n")
        .nth(1)
        .expect("a First steps section")
        .split("\n## ")
        .next()
        .unwrap();
    let blocks: Vec<String> = section
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap().to_owned())
        .collect();
    assert_eq!(blocks.len(), 2, "{section}");
    blocks
}
