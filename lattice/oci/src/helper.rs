//! Docker credential helpers (`docker-credential-NAME get`), as named by
//! `credHelpers` and `credsStore` in the docker `config.json`: how ECR,
//! GCR, ACR and desktop keychains hand out registry logins.

use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::OciError;

/// Most bytes of a helper's answer read; credentials are a few hundred.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;
/// Most characters of a failing helper's message repeated in the error.
const MAX_MESSAGE_CHARS: usize = 300;
/// Docker's user name for an answer whose secret is an identity token.
const IDENTITY_TOKEN_USER: &str = "<token>";

/// What `docker-credential-NAME get` prints.
#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Whether `name` can be the NAME of `docker-credential-NAME`: a plain
/// program name, never a path.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Asks helper `name` for the login of `registry`, within `timeout`.
/// `None` when the helper has none stored, or (`missing_ok`) is not
/// installed.
pub(crate) async fn get(
    name: &str,
    registry: &str,
    timeout: Duration,
    missing_ok: bool,
) -> Result<Option<(String, String)>, OciError> {
    let program = format!("docker-credential-{name}");
    let fail = |reason: String| OciError::CredentialHelper {
        program: program.clone(),
        registry: registry.to_owned(),
        reason,
    };
    if !valid_name(name) {
        return Err(fail(
            "the helper's name is not a plain program name (letters, digits, `.`, `_`, `-`); \
             fix credHelpers or credsStore in the docker config.json"
                .into(),
        ));
    }
    let spawned = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && missing_ok => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(fail(
                "it is not on PATH; install it, or remove the registry from credHelpers in the \
                 docker config.json"
                    .into(),
            ));
        }
        Err(e) => return Err(fail(format!("it cannot be started: {e}"))),
    };
    let run = async {
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading is answered by its exit.
            let _ = stdin.write_all(registry.as_bytes()).await;
        }
        // Both pipes at once: a helper that fills one while the other is
        // read would otherwise wait for the timeout.
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let read_out = async {
            match stdout {
                Some(pipe) => pipe.take(MAX_ANSWER_BYTES).read_to_end(&mut out).await,
                None => Ok(0),
            }
        };
        let read_err = async {
            match stderr {
                Some(pipe) => pipe.take(MAX_ANSWER_BYTES).read_to_end(&mut err).await,
                None => Ok(0),
            }
        };
        let (read_out, read_err) = tokio::join!(read_out, read_err);
        read_out?;
        read_err?;
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, out, err))
    };
    let (status, out, err) = match tokio::time::timeout(timeout, run).await {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => return Err(fail(format!("talking to it failed: {e}"))),
        Err(_) => {
            return Err(fail(format!(
                "it did not answer within {timeout:?} (is it waiting for a prompt?)"
            )));
        }
    };
    if !status.success() {
        let said = String::from_utf8_lossy(if out.is_empty() { &err } else { &out });
        let said: String = said.trim().chars().take(MAX_MESSAGE_CHARS).collect();
        // The helpers' own words for "nothing stored for this server".
        if said.to_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(fail(format!("it failed ({status}): {said}")));
    }
    let answer: Answer = serde_json::from_slice(&out).map_err(|e| {
        fail(format!(
            "its answer is not the JSON {{\"Username\", \"Secret\"}} helpers print: {e}"
        ))
    })?;
    if answer.username == IDENTITY_TOKEN_USER {
        return Err(fail(
            "it holds an identity token, which Trellis cannot exchange yet; log in with a user \
             name and password or token: trellis registry login REGISTRY"
                .into(),
        ));
    }
    Ok(Some((answer.username, answer.secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_names_are_program_names() {
        for ok in ["ecr-login", "gcloud", "osxkeychain", "pass", "desktop.exe"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "../evil", "a b", "/bin/sh", "x;rm", &"a".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_missing_helper_is_named_with_what_to_do() {
        let err = get(
            "trellis-no-such-helper",
            "r.io",
            Duration::from_secs(5),
            false,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("docker-credential-trellis-no-such-helper")
                && err.contains("not on PATH")
                && err.contains("r.io"),
            "{err}"
        );
        // The default store missing: anonymous, as for no config at all.
        let none = get(
            "trellis-no-such-helper",
            "r.io",
            Duration::from_secs(5),
            true,
        )
        .await;
        assert_eq!(none.unwrap(), None);
    }
}
