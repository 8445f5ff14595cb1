//! Command-line polling: a real program per poll, with the poll tags as arguments (one
//! argv item each, never a shell), judged by exit code and output, or only started.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use standby::model::criteria::{CommandWait, Comparison, ExitCodeRule};
use standby::model::{CommandSpec, TextRule};
use standby::probe::command::CommandProbe;
use standby::probe::{PollOutcome, PollTarget, Probe};

use crate::support::bounded;

fn spec(program: &str, args: &[&str], wait: Option<CommandWait>) -> CommandSpec {
    CommandSpec {
        program: program.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        wait,
    }
}

fn wait(
    exit: Option<(Comparison, i32)>,
    stdout: Option<TextRule>,
    secs: u32,
) -> Option<CommandWait> {
    Some(CommandWait {
        timeout_secs: secs,
        exit_code: exit.map(|(comparison, code)| ExitCodeRule { comparison, code }),
        stdout,
    })
}

async fn poll(spec: &CommandSpec, timeout: Duration) -> PollOutcome {
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 17));
    CommandProbe::new(spec)
        .unwrap()
        .poll(&PollTarget {
            address: ip,
            public_address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 17)),
            name: "web 1".into(),
            host: "www.example.test".into(),
            set_name: "web".into(),
            timeout,
        })
        .await
}

fn code(outcome: &PollOutcome) -> Option<u16> {
    outcome.failure.map(|f| f.code())
}

#[tokio::test]
async fn tags_are_arguments_and_output_is_judged() {
    bounded(async {
        let args = [
            "%s|",
            "$SERVERIP$",
            "$PUBLICIP$",
            "$SERVERNAME$",
            "$HOST$",
            "$SETNAME$",
            "$TIMEOUT$",
            "$PORT$",
        ];
        let ok = spec(
            "printf",
            &args,
            wait(
                Some((Comparison::Equal, 0)),
                Some(TextRule::Contains("127.0.0.17|".into())),
                5,
            ),
        );
        let outcome = poll(&ok, Duration::from_secs(5)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(
            outcome.response,
            "exit code 0: 127.0.0.17|192.0.2.17|web 1|www.example.test|web|5||"
        );

        let not_up = spec(
            "printf",
            &["down\n"],
            wait(None, Some(TextRule::NotContains("down".into())), 5),
        );
        let outcome = poll(&not_up, Duration::from_secs(5)).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(
            outcome.response,
            "exit code 0: down: output contains \"down\""
        );

        let regex = spec(
            "printf",
            &["load 0.42\n"],
            wait(None, Some(TextRule::Matches(r"load 0\.\d+".into())), 5),
        );
        assert!(poll(&regex, Duration::from_secs(5)).await.is_success());
    })
    .await;
}

#[tokio::test]
async fn exit_codes_are_compared() {
    bounded(async {
        let exit3 = |comparison, code| {
            spec(
                "sh",
                &["-c", "exit 3"],
                wait(Some((comparison, code)), None, 5),
            )
        };
        for (comparison, wanted, passes) in [
            (Comparison::Equal, 3, true),
            (Comparison::Equal, 0, false),
            (Comparison::NotEqual, 0, true),
            (Comparison::Less, 4, true),
            (Comparison::Greater, 3, false),
        ] {
            let outcome = poll(&exit3(comparison, wanted), Duration::from_secs(5)).await;
            assert_eq!(
                outcome.is_success(),
                passes,
                "{comparison:?} {wanted}: {outcome:?}"
            );
            if !passes {
                assert_eq!(code(&outcome), Some(147));
                assert!(
                    outcome.response.starts_with("exit code 3 is not"),
                    "{outcome:?}"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_late_program_is_killed_and_that_is_a_failure() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("echo $$ > {}; exec sleep 30", pid_file.display());
        let hung = spec(
            "sh",
            &["-c", &script],
            wait(Some((Comparison::Equal, 0)), None, 1),
        );
        let started = Instant::now();
        let outcome = poll(&hung, Duration::from_secs(10)).await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(code(&outcome), Some(124), "{outcome:?}");
        assert_eq!(outcome.response, "sh still running after 1 s: killed");
        // The process is gone (or a zombie about to be reaped), not left running.
        let pid = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .to_owned();
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let running = state.rsplit(')').next().is_some_and(|rest| {
                !matches!(rest.trim_start().chars().next(), Some('Z' | 'X') | None)
            });
            if !running {
                break;
            }
            assert!(Instant::now() < until, "pid {pid} still running: {state}");
            tokio::task::yield_now().await;
        }

        // The poll's own time-out cuts a longer wait short.
        let outcome = poll(
            &spec("sleep", &["30"], wait(None, None, 20)),
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(outcome.response, "sleep still running after 1 s: killed");
    })
    .await;
}

#[tokio::test]
async fn not_waiting_and_missing_programs() {
    bounded(async {
        let outcome = poll(&spec("sleep", &["5"], None), Duration::from_secs(5)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "started");
        assert!(outcome.elapsed < Duration::from_secs(1));

        let outcome = poll(
            &spec("/nonexistent/check", &[], wait(None, None, 5)),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(code(&outcome), Some(111), "{outcome:?}");
        assert!(
            outcome
                .response
                .starts_with("cannot start /nonexistent/check"),
            "{outcome:?}"
        );
    })
    .await;
}
