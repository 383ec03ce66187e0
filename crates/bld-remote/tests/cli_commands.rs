//! `exec`, `install-addon`, `doctor`, `demo` and `--help` against real Blender.

mod common;

use common::*;
use serde_json::Value;

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn exec_reads_code_from_an_argument_a_file_and_stdin() {
    let env = Env::new();
    let port = env.start_detached(&[])["port"]
        .as_u64()
        .unwrap()
        .to_string();
    let run = env.run(&[
        "exec",
        "--port",
        &port,
        "print('out')\nimport sys\nprint('err', file=sys.stderr)\n{'a': [1, 2]}",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("out\n"),
        "the code's stdout first: {}",
        run.stdout
    );
    let result: Value = serde_json::from_str(run.stdout.trim_start_matches("out\n")).unwrap();
    assert_eq!(result, serde_json::json!({"a": [1, 2]}));
    assert!(
        run.stderr.contains("err\n") && run.stderr.contains(" ms)"),
        "{}",
        run.stderr
    );

    let script = env.path("script.py");
    std::fs::write(&script, "import bpy\nlen(bpy.data.objects)\n").unwrap();
    let run = env.run(&["exec", "--port", &port, "-f", script.to_str().unwrap()]);
    assert_eq!(run.stdout.trim(), "3", "{}", run.stderr);

    let run = env.run_with_stdin(&["exec", "--port", &port, "-"], Some("x = 20\nx + 1\n"));
    assert_eq!(run.stdout.trim(), "21", "{}", run.stderr);
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn exec_reports_errors_timeouts_and_a_missing_blender_by_exit_code() {
    let env = Env::new();
    let port = env.start_detached(&[])["port"]
        .as_u64()
        .unwrap()
        .to_string();
    let run = env.run(&["exec", "--port", &port, "def f():\n    return 1 / 0\nf()"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("Traceback") && run.stderr.contains("line 2, in f"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("error: ZeroDivisionError: division by zero"),
        "{}",
        run.stderr
    );

    let run = env.run(&[
        "exec",
        "--port",
        &port,
        "--timeout",
        "0.5",
        "while True:\n    pass",
    ]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("timeout"), "{}", run.stderr);

    let run = env.run(&["exec", "--port", &port, "--json", "1 + 1"]);
    let envelope: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        (envelope["status"].as_str(), envelope["result"].as_i64()),
        (Some("success"), Some(2))
    );
    assert!(
        envelope["metadata"]["job_id"]
            .as_str()
            .unwrap()
            .starts_with("job-")
    );

    let run = env.run(&[
        "exec",
        "--port",
        &port,
        "--mode",
        "async",
        "--json",
        "import time\ntime.sleep(0.1)",
    ]);
    let submitted: Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        submitted["job_id"].as_str().unwrap().starts_with("job-"),
        "{}",
        run.stdout
    );
    // Without --json, async prints only the job id (for scripts).
    let run = env.run(&["exec", "--port", &port, "--mode", "async", "2 + 2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let job = run.stdout.trim();
    assert!(
        job.starts_with("job-") && !job.contains(char::is_whitespace),
        "{}",
        run.stdout
    );

    let nobody = free_port().to_string();
    let run = env.run(&["exec", "--port", &nobody, "1"]);
    assert_eq!(run.code, 3);
    assert_eq!(
        run.stderr.trim(),
        format!(
            "error: no Blender listening on 127.0.0.1:{nobody} — run `bld-remote start` or enable the addon in Blender"
        )
    );
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn install_addon_into_blender_3_4_leaves_it_enabled_for_the_next_blender() {
    let env = Env::new();
    let zip = env.path("out/addon.zip");
    let blender = blender_binary();
    let run = env.run(&[
        "install-addon",
        "--blender",
        blender.to_str().unwrap(),
        "--zip",
        zip.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("as an add-on in Blender 3.4"),
        "{}",
        run.stdout
    );
    assert!(zip.is_file());
    assert!(
        env.path("blender/scripts/addons/bld_remote_mcp/__init__.py")
            .is_file()
    );

    // A new Blender with these preferences (no factory startup) has the addon registered.
    let check = "import bpy, bld_remote\nprint('ENABLED', 'bld_remote_mcp' in bpy.context.preferences.addons, bld_remote.get_status()['running'])";
    let mut command = std::process::Command::new(&blender);
    command
        .args(["-b", "-noaudio", "--python-expr", check])
        .envs(env.vars.iter().map(|(k, v)| (k, v)));
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("ENABLED True False"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let doctor = env.run(&["doctor", "--blender", blender.to_str().unwrap()]);
    assert!(
        doctor
            .stdout
            .contains("addon 0.1.0 installed and enabled (bld_remote_mcp)"),
        "{}",
        doctor.stdout
    );
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn install_addon_into_blender_5_installs_an_extension() {
    let env = Env::new();
    let python = bpy5_python();
    let run = env.run(&["install-addon", "--blender", python.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("as an extension in Blender 5.0"),
        "{}",
        run.stdout
    );
    assert!(
        env.path("blender/extensions/user_default/bld_remote_mcp/blender_manifest.toml")
            .is_file()
    );
    let check = "import bpy\nbpy.ops.wm.read_userpref()\nimport bld_remote\nprint('ENABLED', 'bl_ext.user_default.bld_remote_mcp' in bpy.context.preferences.addons, bld_remote.get_status()['port'])";
    let output = std::process::Command::new(&python)
        .args(["-c", check])
        .envs(env.vars.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("ENABLED True 6688"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn install_addon_zip_only_writes_an_installable_zip_without_blender() {
    let mut env = Env::new();
    env.set("BLENDER_PATH", "/nonexistent/blender");
    let zip = env.path("addon.zip");
    let run = env.run(&[
        "install-addon",
        "--zip-only",
        "--zip",
        zip.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let bytes = std::fs::read(&zip).unwrap();
    assert_eq!(&bytes[..2], b"PK");
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn doctor_reports_each_check_with_its_fix() {
    let mut env = Env::new();
    let port = env.start_detached(&[])["port"]
        .as_u64()
        .unwrap()
        .to_string();
    std::fs::write(env.path("config.toml"), "timeout = 30\n").unwrap();
    let run = env.run(&["doctor", "--port", &port]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let found = format!("✓ Blender at {} (from PATH)", blender_binary().display());
    let config = format!("✓ config file {} (read)", env.path("config.toml").display());
    for expected in [
        config.as_str(),
        found.as_str(),
        "✓ Blender 3.4",
        "! addon not installed",
        "fix: bld-remote install-addon",
        "protocol 2, token proved both ways",
        "1 Blender(s) started by bld-remote running",
        // Debian's Blender 3.4, the reference platform: both of its traps are found by trying.
        "! this Blender has no OpenImageDenoise",
        "! this Blender's glTF importer fails (AttributeError",
    ] {
        assert!(
            run.stdout.contains(expected),
            "{expected:?} missing:\n{}",
            run.stdout
        );
    }
    env.set("BLENDER_PATH", "/nonexistent/blender");
    let nobody = free_port().to_string();
    let run = env.run(&["doctor", "--port", &nobody]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("✗ Blender not found") && run.stdout.contains("/nonexistent/blender"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("no Blender listening on 127.0.0.1:{nobody}")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("fix: bld-remote start"),
        "{}",
        run.stdout
    );

    // A Python without bpy passed as Blender: it is asked, and says why it is not Blender.
    let python = repo_root().join(".venv/bin/python");
    let run = env.run(&[
        "doctor",
        "--port",
        &nobody,
        "--blender",
        python.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let verdict = format!(
        "✗ {} is not Blender (its version output was \"\"; ModuleNotFoundError: No module named 'bpy')",
        python.display()
    );
    assert!(run.stdout.contains(&verdict), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("fix: pass a Blender executable with --blender or BLENDER_PATH"),
        "{}",
        run.stdout
    );
}

/// blender-remote 1.3.3's addon on the port (raw JSON, no newline, no `hello`): doctor names
/// it as not ours and says how to replace it.
#[test]
fn doctor_names_an_older_addon_on_the_port() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0
                        || stream
                            .write_all(
                                br#"{"status": "error", "message": "Unknown command type: hello"}"#,
                            )
                            .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    let mut env = Env::new();
    env.set("BLENDER_PATH", "/nonexistent/blender");
    let run = env.run(&["doctor", "--port", &port]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    for expected in [
        format!("✗ the server on 127.0.0.1:{port} is not a bld-remote addon"),
        "no newline-delimited reply to `hello`".to_owned(),
        "fix: bld-remote install-addon, then restart that Blender".to_owned(),
    ] {
        assert!(
            run.stdout.contains(&expected),
            "{expected:?}:\n{}",
            run.stdout
        );
    }
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn demo_runs_an_mcp_session_and_leaves_nothing_running() {
    let env = Env::new();
    let preview = env.path("preview.png");
    let run = env.run(&["demo", "--preview", preview.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for expected in [
        "check_connection_status: Blender 3.4",
        "\"Suzanne 0\"",
        "ZeroDivisionError",
        "status=timeout",
        "p50",
        "the Blender it started was stopped",
    ] {
        assert!(
            run.stdout.contains(expected),
            "{expected:?} missing:\n{}",
            run.stdout
        );
    }
    let png = std::fs::read(&preview).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "a real PNG"
    );
    assert_eq!(env.run(&["status", "--json"]).stdout.trim(), "[]");
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    let env = Env::new();
    for sub in [
        "start",
        "status",
        "stop",
        "exec",
        "install-addon",
        "doctor",
        "demo",
    ] {
        let run = env.run(&[sub, "--help"]);
        assert_eq!(run.code, 0);
        assert!(
            run.stdout.contains("Example") && run.stdout.contains("bld-remote "),
            "{sub}:\n{}",
            run.stdout
        );
    }
}
