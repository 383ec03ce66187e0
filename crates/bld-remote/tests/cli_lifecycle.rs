//! `start`, `status`, `stop` against real Blender: background (3.4 and bpy 5.0.1) and GUI under
//! a private Xvfb, detached and in the foreground with Ctrl-C/SIGTERM, taken ports, stale
//! records, a missing Blender.

mod common;

use common::*;
use serde_json::{Value, json};
use std::io::BufReader;
use std::process::Stdio;
use std::time::Duration;

fn status_json(env: &Env) -> Vec<Value> {
    let run = env.run(&["status", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn detached_background_start_status_exec_stop() {
    let env = Env::new();
    let record = env.start_detached(&["--background"]);
    let (port, pid) = (
        record["port"].as_u64().unwrap(),
        record["pid"].as_u64().unwrap(),
    );
    assert_ne!(port, 0, "port 0 resolved to the real port");
    assert_eq!(record["mode"], "background");
    assert!(
        record["blender_version"]
            .as_str()
            .unwrap()
            .starts_with("3.4")
    );
    assert!(pid_alive(pid));
    assert!(
        env.path("state/instances")
            .join(format!("{port}.json"))
            .exists()
    );

    let rows = status_json(&env);
    let row = rows
        .iter()
        .find(|r| r["port"] == port)
        .expect("instance listed");
    assert_eq!(
        (row["reachable"].as_bool(), row["managed"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(row["pid"], pid);
    assert_eq!(row["queue_length"], 0);
    let human = env.run(&["status"]);
    assert!(
        human.stdout.contains(&port.to_string()) && human.stdout.contains("ready"),
        "{}",
        human.stdout
    );

    let run = env.exec(port, "import os\nos.getpid()");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.trim(),
        pid.to_string(),
        "the code ran inside the recorded Blender"
    );

    let stop = env.run(&["stop"]);
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert!(stop.stdout.contains("shut down"), "{}", stop.stdout);
    assert!(wait_dead(pid, Duration::from_secs(10)));
    assert!(
        !env.path("state/instances")
            .join(format!("{port}.json"))
            .exists()
    );
    assert!(status_json(&env).iter().all(|r| r["port"] != port));
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn a_python_with_bpy_5_is_started_like_blender() {
    let env = Env::new();
    let python = bpy5_python();
    let record = env.start_detached(&["--blender", python.to_str().unwrap()]);
    assert!(
        record["blender_version"]
            .as_str()
            .unwrap()
            .starts_with("5.0"),
        "{record}"
    );
    let port = record["port"].as_u64().unwrap();
    let run = env.exec(port, "import bpy\nbpy.app.version[0]");
    assert_eq!(run.stdout.trim(), "5", "{}", run.stderr);
    let stop = env.run(&["stop", "--port", &port.to_string()]);
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert!(wait_dead(
        record["pid"].as_u64().unwrap(),
        Duration::from_secs(10)
    ));
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn gui_blender_under_xvfb_starts_answers_and_stops() {
    let xvfb = Xvfb::start();
    let mut env = Env::new();
    env.set("DISPLAY", &xvfb.display);
    // The Mesa shader cache is slow to build; share it between runs.
    let shared_cache = repo_root().join("target/test-xdg-cache");
    std::fs::create_dir_all(&shared_cache).unwrap();
    env.set("XDG_CACHE_HOME", shared_cache.to_str().unwrap());
    let record = env.start_detached(&["--gui", "--ready-timeout", "180"]);
    assert_eq!(record["mode"], "gui");
    let port = record["port"].as_u64().unwrap();
    let run = env.exec(
        port,
        "import bpy\n[bpy.app.background, len(bpy.context.window_manager.windows)]",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value[0], false, "a real window, not background");
    assert!(value[1].as_u64().unwrap() >= 1);
    // The addon is loaded by path, not enabled, yet its panel and preferences are registered
    // (before `start` returned) and its operators work: the MCP config for this port is copied.
    let run = env.exec(
        port,
        "import bpy\n\
         from bld_remote_mcp.blender import preferences\n\
         bpy.ops.bld_remote.copy_mcp_config()\n\
         [hasattr(bpy.types, 'VIEW3D_PT_bld_remote'), \
          preferences.BldRemotePreferences.is_registered, \
          bpy.context.window_manager.clipboard]",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The operator's report comes first (Blender prints it to the captured stdout), then the value.
    let (report, value) = run.stdout.split_once('\n').expect(&run.stdout);
    assert_eq!(report, format!("Info: MCP config for port {port} copied"));
    let value: Value = serde_json::from_str(value).expect(&run.stdout);
    assert_eq!(
        (&value[0], &value[1]),
        (&json!(true), &json!(true)),
        "{value}"
    );
    let config: Value = serde_json::from_str(value[2].as_str().unwrap()).unwrap();
    assert_eq!(
        config["mcpServers"]["blender"]["args"],
        json!(["mcp", "--port", port.to_string()])
    );
    let stop = env.run(&["stop", "--port", &port.to_string()]);
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert!(wait_dead(
        record["pid"].as_u64().unwrap(),
        Duration::from_secs(15)
    ));
    drop(env);
    drop(xvfb);
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn gui_without_a_display_or_with_a_bpy_python_is_refused_clearly() {
    let env = Env::new();
    let run = env.run(&["start", "--gui", "--port", "0"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no display"), "{}", run.stderr);
    // `mode = "gui"` in the config file means the same when neither flag is given.
    std::fs::write(env.path("config.toml"), "mode = \"gui\"\n").unwrap();
    let run = env.run(&["start", "--port", "0"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no display"), "{}", run.stderr);
    let mut env = Env::new();
    env.set("DISPLAY", ":99");
    let python = bpy5_python();
    let run = env.run(&[
        "start",
        "--gui",
        "--port",
        "0",
        "--blender",
        python.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("cannot open a window"),
        "{}",
        run.stderr
    );
}

fn foreground(
    env: &Env,
    port: u16,
) -> (
    std::process::Child,
    BufReader<std::process::ChildStdout>,
    String,
) {
    let mut child = env
        .command(&["start", "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let seen = read_until(&mut stdout, "ready on", Duration::from_secs(120));
    (child, stdout, seen)
}

fn signal(pid: u32, signal: i32) {
    assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn foreground_start_shuts_blender_down_on_ctrl_c_and_on_sigterm() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let env = Env::new();
        let port = free_port();
        let (mut child, _stdout, _) = foreground(&env, port);
        let record: Value = serde_json::from_slice(
            &std::fs::read(env.path("state/instances").join(format!("{port}.json"))).unwrap(),
        )
        .unwrap();
        let blender = record["pid"].as_u64().unwrap();
        signal(child.id(), sig);
        let status = wait_output(child_take(&mut child), Duration::from_secs(60)).status;
        assert_eq!(
            status.code(),
            Some(0),
            "Blender's clean exit code, after signal {sig}"
        );
        assert!(wait_dead(blender, Duration::from_secs(5)));
        assert!(
            !env.path("state/instances")
                .join(format!("{port}.json"))
                .exists(),
            "record removed"
        );
    }
}

fn child_take(child: &mut std::process::Child) -> std::process::Child {
    // wait_output needs ownership; swap in a finished dummy.
    std::mem::replace(child, std::process::Command::new("true").spawn().unwrap())
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn foreground_start_exits_with_blenders_exit_code() {
    let env = Env::new();
    let port = free_port();
    let (mut child, _stdout, _) = foreground(&env, port);
    let run = env.exec(port as u64, "import sys\nsys.exit(7)");
    assert_eq!(run.code, 0, "sys.exit is not an error: {}", run.stderr);
    let status = wait_output(child_take(&mut child), Duration::from_secs(60)).status;
    assert_eq!(status.code(), Some(7));
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn foreground_start_passes_on_the_signal_that_killed_blender() {
    let env = Env::new();
    let port = free_port();
    let (mut child, mut stdout, _) = foreground(&env, port);
    let mut next = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut next).unwrap();
    assert_eq!(next.trim(), "Ctrl-C stops it");
    let record = env.path("state/instances").join(format!("{port}.json"));
    let blender = serde_json::from_slice::<Value>(&std::fs::read(&record).unwrap()).unwrap()["pid"]
        .as_u64()
        .unwrap();
    signal(blender as u32, libc::SIGKILL);
    let status = wait_output(child_take(&mut child), Duration::from_secs(60)).status;
    assert_eq!(
        status.code(),
        Some(128 + libc::SIGKILL),
        "as a shell reports it"
    );
    assert!(!record.exists(), "record removed");
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn a_taken_port_names_who_holds_it() {
    let env = Env::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let run = env.run(&["start", "--port", &port, "--detach"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&format!("port {port} is taken by")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("pid {}", std::process::id())),
        "names this test process: {}",
        run.stderr
    );

    let record = env.start_detached(&[]);
    let port = record["port"].as_u64().unwrap().to_string();
    let run = env.run(&["start", "--port", &port, "--detach"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("bld-remote already serves it"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("pid {}", record["pid"])),
        "{}",
        run.stderr
    );
}

#[test]
fn a_missing_blender_is_reported_with_the_fix() {
    let mut env = Env::new();
    env.set("BLENDER_PATH", "/nonexistent/blender");
    let run = env.run(&["start", "--detach", "--port", "0"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("/nonexistent/blender") && run.stderr.contains("BLENDER_PATH"),
        "{}",
        run.stderr
    );
    let run = env.run(&[
        "start",
        "--detach",
        "--port",
        "0",
        "--blender",
        "/also/missing",
    ]);
    assert!(
        run.stderr.contains("/also/missing"),
        "the flag wins over the env: {}",
        run.stderr
    );
}

/// A Python without `bpy` given as Blender: the entry script fails at once. Detached, the error
/// carries the end of its log; in the foreground its output went to the terminal already.
#[test]
fn a_blender_that_exits_before_it_is_ready_is_reported_with_its_last_output() {
    let env = Env::new();
    // The system's Python (no bpy there), so this needs neither Blender nor the test venvs.
    let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
        .expect("a python3 in /usr/bin or /usr/local/bin");
    let run = env.run(&["start", "--detach", "--port", "0", "--blender", python]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("error: Blender exited (exit code 1) before it was ready; its last output:")
            && run.stderr.contains("No module named 'bpy'"),
        "{}",
        run.stderr
    );
    let run = env.run(&["start", "--port", "0", "--blender", python]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("No module named 'bpy'"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .trim_end()
            .ends_with("error: Blender exited (exit code 1) before it was ready"),
        "{}",
        run.stderr
    );
    assert!(status_json(&env).is_empty(), "nothing recorded");
}

/// Live processes whose command line mentions `needle`: the Blenders a test started (their
/// arguments name the test's own temp dir), found without knowing their PIDs.
fn pids_mentioning(needle: &str) -> Vec<u64> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u64>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(needle))
        })
        .filter(|pid| pid_alive(*pid))
        .collect()
}

/// Blender's window waits on a display that never answers (a stopped X server): `start` gives
/// up after `--ready-timeout`, or on SIGTERM, and stops that Blender either way.
#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn a_blender_that_hangs_at_startup_is_stopped_after_the_ready_timeout_or_on_sigterm() {
    let xvfb = Xvfb::start();
    signal(xvfb.pid(), libc::SIGSTOP);
    let mut env = Env::new();
    env.set("DISPLAY", &xvfb.display);
    let dir = env.dir.path().display().to_string();

    let run = env.run(&[
        "start",
        "--gui",
        "--detach",
        "--port",
        "0",
        "--ready-timeout",
        "2",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Blender did not become ready within 2 s"),
        "{}",
        run.stderr
    );
    assert_eq!(pids_mentioning(&dir), Vec::<u64>::new(), "Blender stopped");

    let child = env
        .command(&["start", "--gui", "--port", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let blender = loop {
        if let Some(&pid) = pids_mentioning(&dir).first() {
            break pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Blender never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    signal(child.id(), libc::SIGTERM);
    let output = wait_output(child, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("SIGTERM received while Blender was starting; it was stopped"),
        "{stderr}"
    );
    assert!(wait_dead(blender, Duration::from_secs(5)));
    assert!(status_json(&env).is_empty(), "nothing recorded");
    signal(xvfb.pid(), libc::SIGCONT);
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn stale_records_are_cleaned_and_stop_only_signals_its_own_processes() {
    let env = Env::new();
    let record = env.start_detached(&[]);
    let pid = record["pid"].as_u64().unwrap();
    // Blender dies behind bld-remote's back.
    signal(pid as u32, libc::SIGKILL);
    assert!(wait_dead(pid, Duration::from_secs(10)));
    let run = env.run(&["status"]);
    assert!(
        run.stdout.contains("removed 1 stale record"),
        "{}",
        run.stdout
    );
    let run = env.run(&["stop"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("no Blender started by bld-remote is running"),
        "{}",
        run.stderr
    );
    let run = env.run(&["stop", "--port", &record["port"].to_string()]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&format!(
            "no Blender started by bld-remote is running on port {}",
            record["port"]
        )) && run.stderr.contains("File > Quit"),
        "{}",
        run.stderr
    );
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn several_instances_need_a_port_or_all() {
    let env = Env::new();
    let a = env.start_detached(&[]);
    let b = env.start_detached(&[]);
    let run = env.run(&["stop"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("several Blenders are running"),
        "{}",
        run.stderr
    );
    let run = env.run(&["exec", "1"]);
    assert!(
        run.stderr.contains("several Blenders are running"),
        "{}",
        run.stderr
    );
    let run = env.run(&["stop", "--all"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for record in [a, b] {
        assert!(wait_dead(
            record["pid"].as_u64().unwrap(),
            Duration::from_secs(10)
        ));
    }
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn start_opens_a_blend_file() {
    let env = Env::new();
    let record = env.start_detached(&[]);
    let port = record["port"].as_u64().unwrap();
    let blend = env.path("scene.blend");
    let save = format!(
        "import bpy\nbpy.ops.mesh.primitive_monkey_add()\nbpy.ops.wm.save_as_mainfile(filepath={:?})",
        blend.display().to_string()
    );
    assert_eq!(env.exec(port, &save).code, 0);
    let other = env.start_detached(&["--file", blend.to_str().unwrap()]);
    let run = env.exec(
        other["port"].as_u64().unwrap(),
        "import bpy\n[bpy.data.filepath, 'Suzanne' in bpy.data.objects]",
    );
    let value: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|_| panic!("{} {}", run.stdout, run.stderr));
    assert_eq!(value[0], blend.display().to_string());
    assert_eq!(value[1], true);
    let run = env.run(&[
        "start",
        "--detach",
        "--port",
        "0",
        "--file",
        "missing.blend",
    ]);
    assert!(run.stderr.contains("no such .blend file"), "{}", run.stderr);
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn config_file_then_env_then_flag() {
    let mut env = Env::new();
    let a = env.start_detached(&[]);
    let b = env.start_detached(&[]);
    let (pa, pb) = (a["port"].as_u64().unwrap(), b["port"].as_u64().unwrap());
    std::fs::write(
        env.path("config.toml"),
        format!("port = {pa}\ntimeout = 5\n"),
    )
    .unwrap();
    let pid_of = |env: &Env, args: &[&str]| {
        let mut all = vec!["exec"];
        all.extend(args);
        all.push("import os\nos.getpid()");
        let run = env.run(&all);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout.trim().to_owned()
    };
    assert_eq!(pid_of(&env, &[]), a["pid"].to_string(), "config file port");
    env.set("BLD_REMOTE_PORT", &pb.to_string());
    assert_eq!(pid_of(&env, &[]), b["pid"].to_string(), "env beats config");
    assert_eq!(
        pid_of(&env, &["--port", &pa.to_string()]),
        a["pid"].to_string(),
        "flag beats env"
    );
    // `stop --all` works with BLD_REMOTE_PORT set (the env var must not conflict with --all).
    let run = env.run(&["stop", "--all"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for record in [&a, &b] {
        assert!(wait_dead(
            record["pid"].as_u64().unwrap(),
            Duration::from_secs(10)
        ));
    }
    std::fs::write(env.path("config.toml"), "prot = 1\n").unwrap();
    let run = env.run(&["status"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("unknown field `prot`") && run.stderr.contains("config.toml"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_config_file_defaults_to_the_platform_config_dir() {
    let mut env = Env::new();
    env.vars.retain(|(key, _)| key != "BLD_REMOTE_CONFIG");
    let config_home = env.path("xdg-config");
    env.set("XDG_CONFIG_HOME", config_home.to_str().unwrap());
    std::fs::create_dir_all(config_home.join("bld-remote")).unwrap();
    let port = free_port();
    std::fs::write(
        config_home.join("bld-remote/config.toml"),
        format!("port = {port}\n"),
    )
    .unwrap();
    let run = env.run(&["exec", "1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("no Blender listening on 127.0.0.1:{port}")),
        "the port came from ~/.config/bld-remote/config.toml: {}",
        run.stderr
    );
    // A config path that cannot be read is an error, not an empty config.
    let run = env.run(&["status", "--config", config_home.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("reading config file {}", config_home.display())),
        "{}",
        run.stderr
    );
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn stop_escalates_to_signals_when_blender_cannot_answer() {
    let env = Env::new();
    // Without --json: what README shows, the log and how to stop it.
    let run = env.run(&["start", "--detach", "--port", "0"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("✓ Blender 3.4") && lines[0].ends_with(", background)"),
        "{}",
        run.stdout
    );
    let port = lines[0]
        .split("ready on 127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("port in the first line");
    let pid: u64 = lines[0]
        .split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|pid| pid.parse().ok())
        .expect("pid in the first line");
    let log = lines[1].strip_prefix("  log: ").expect("log line");
    assert!(
        std::path::Path::new(log).is_file()
            && log.starts_with(env.path("state/logs").to_str().unwrap()),
        "{log}"
    );
    assert_eq!(
        lines[2],
        format!("  stop it with: bld-remote stop --port {port}")
    );
    // A frozen Blender: the kernel still accepts connections, nothing answers, SIGTERM stays
    // pending; only SIGKILL ends it.
    signal(pid as u32, libc::SIGSTOP);
    let run = env.run(&["stop", "--grace", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("killed with SIGKILL"), "{}", run.stdout);
    assert!(wait_dead(pid, Duration::from_secs(5)));
    assert!(status_json(&env).is_empty());
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn no_auth_serves_clients_without_a_token_and_auth_is_on_otherwise() {
    let env = Env::new();
    let secured = env.start_detached(&[]);
    let open = env.start_detached(&["--no-auth"]);
    let hello = |port: u64| {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port as u16)).unwrap();
        std::io::Write::write_all(&mut stream, b"{\"id\":1,\"type\":\"ping\"}\n").unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut BufReader::new(stream), &mut line).unwrap();
        serde_json::from_str::<Value>(&line).unwrap()
    };
    assert_eq!(
        hello(secured["port"].as_u64().unwrap())["error"]["code"],
        "unauthorized"
    );
    assert_eq!(
        hello(open["port"].as_u64().unwrap())["result"]["pong"],
        true
    );
    assert!(
        env.path(&format!("state/tokens/{}.token", secured["port"]))
            .exists()
    );
    assert!(
        !env.path(&format!("state/tokens/{}.token", open["port"]))
            .exists()
    );
    // bld-remote's own commands work against the secured one; against the open one only
    // when told to accept a server without authentication (anyone could answer such a port).
    let run = env.exec(secured["port"].as_u64().unwrap(), "6 * 7");
    assert_eq!(run.stdout.trim(), "42", "{}", run.stderr);
    let open_port = open["port"].as_u64().unwrap().to_string();
    let refused = env.run(&["exec", "--port", &open_port, "6 * 7"]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("says authentication is off")
            && refused.stderr.contains("--allow-no-auth"),
        "{}",
        refused.stderr
    );
    let run = env.run(&["exec", "--allow-no-auth", "--port", &open_port, "6 * 7"]);
    assert_eq!(run.stdout.trim(), "42", "{}", run.stderr);
    // Its record says it was started without a token: status and stop reach it as it is.
    let rows = status_json(&env);
    let row = rows.iter().find(|row| row["port"] == open["port"]).unwrap();
    assert_eq!(row["reachable"], true, "{row}");
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn guard_flag_refuses_writes_outside_the_allowed_folder() {
    let env = Env::new();
    let allowed = env.path("renders");
    std::fs::create_dir_all(&allowed).unwrap();
    let record = env.start_detached(&["--guard", "--guard-allow", allowed.to_str().unwrap()]);
    let port = record["port"].as_u64().unwrap();
    let outside = env.path("outside.txt");
    let refused = env.exec(
        port,
        &format!("open({:?}, 'w').write('x')", outside.to_str().unwrap()),
    );
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("guard mode refused writing"),
        "{}",
        refused.stderr
    );
    assert!(!outside.exists());
    let inside = allowed.join("ok.txt");
    let run = env.exec(
        port,
        &format!("open({:?}, 'w').write('fine')", inside.to_str().unwrap()),
    );
    assert_eq!(run.stdout.trim(), "4", "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(inside).unwrap(), "fine");
}

#[test]
#[ignore = "needs Blender: scripts/test.sh runs it"]
fn everything_bld_remote_keeps_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let record = env.start_detached(&[]);
    let port = record["port"].as_u64().unwrap();
    let mode = |path: &std::path::Path| {
        std::fs::symlink_metadata(path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
            .permissions()
            .mode()
            & 0o7777
    };
    let state = env.path("state");
    for dir in ["", "instances", "logs", "run", "tokens"] {
        assert_eq!(mode(&state.join(dir)), 0o700, "state/{dir}");
    }
    assert_eq!(mode(&state.join(format!("instances/{port}.json"))), 0o600);
    assert_eq!(mode(&state.join(format!("tokens/{port}.token"))), 0o600);
    let log = std::path::PathBuf::from(record["log"].as_str().unwrap());
    assert_eq!(mode(&log), 0o600, "{}", log.display());
    assert_eq!(
        mode(&env.path("cache/bld-remote")),
        0o700,
        "the addon Blender runs"
    );
    // A record another user could have written is never read (it names a pid `stop` signals).
    let file = state.join(format!("instances/{port}.json"));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let run = env.run(&["status", "--json"]);
    let rows: Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|row| row["managed"] == false),
        "the record is ignored: {rows}"
    );
    assert!(
        run.stderr.contains("instance record ignored"),
        "{}",
        run.stderr
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
}
