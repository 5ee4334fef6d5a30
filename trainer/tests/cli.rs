//! The `edgegan-train` binary end to end: a tiny run, resume, eval, sample, and the
//! bad-input cases that must exit with code 2 and a message naming the problem.

use std::path::Path;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_edgegan-train"))
}

fn run(args: &[&str], cwd: &Path) -> Output {
    bin()
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("failed to start edgegan-train")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tiny_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("tiny.toml");
    std::fs::write(
        &path,
        "steps = 20\nbatch_size = 16\nlog_every = 5\ncheckpoint_every = 10\n\
         [generator]\nhidden = [8]\n[discriminator]\nhidden = [8]\n",
    )
    .unwrap();
    path
}

#[test]
fn train_resume_eval_and_sample_work_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let out = run(
        &[
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            "r",
            "-q",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("modes captured"), "{stdout}");
    assert!(dir.path().join("r/eval.json").is_file());

    let out = run(
        &["train", "--resume", "r", "--steps", "30", "-q"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("r/checkpoints/step-0000030").is_dir());

    let out = run(&["eval", "--run", "r", "--samples", "100"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("step 30"));

    let out = run(
        &["sample", "--run", "r", "-n", "3", "--label", "2"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 3);
    for line in text.lines() {
        let cells: Vec<f32> = line.split(',').map(|c| c.parse().unwrap()).collect();
        assert_eq!(cells.len(), 2);
    }
}

#[test]
fn bad_inputs_exit_with_code_2_and_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());

    let out = run(&["train", "--config", "nope.toml", "-q"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nope.toml"), "{}", stderr(&out));

    std::fs::write(dir.path().join("bad.toml"), "[data]\nkind = \"mnist9\"\n").unwrap();
    let out = run(&["train", "--config", "bad.toml", "-q"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.toml") && stderr(&out).contains("mnist9"),
        "{}",
        stderr(&out)
    );

    std::fs::write(dir.path().join("data.csv"), "a,b\n1,2\n3,x\n").unwrap();
    let out = run(
        &[
            "train",
            "--dataset",
            "csv",
            "--unconditional",
            "--csv",
            "data.csv",
            "-q",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains("data.csv") && e.contains("line 3") && e.contains("`b`"),
        "{e}"
    );

    let out = run(
        &[
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            "r",
            "-q",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let before = std::fs::read(dir.path().join("r/config.toml")).unwrap();
    let out = run(
        &[
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            "r",
            "-q",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(dir.path().join("r/config.toml")).unwrap(),
        before
    );

    let out = run(&["sample", "--run", "r", "--label", "8"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("out of range"), "{}", stderr(&out));

    let out = run(&["train", "--resume", "r", "-q"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("already at step 20"),
        "{}",
        stderr(&out)
    );

    let g = dir
        .path()
        .join("r/checkpoints/step-0000020/discriminator.bpk");
    std::fs::write(&g, b"garbage").unwrap();
    let out = run(
        &["train", "--resume", "r", "--steps", "40", "-q"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("discriminator.bpk"),
        "{}",
        stderr(&out)
    );
    // the failed resume overwrote nothing: the step-20 checkpoint is still the latest
    let latest = std::fs::read_to_string(dir.path().join("r/checkpoints/latest")).unwrap();
    assert_eq!(latest.trim(), "step-0000020");

    let out = run(&["eval", "--run", "nowhere"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nowhere"), "{}", stderr(&out));
}
