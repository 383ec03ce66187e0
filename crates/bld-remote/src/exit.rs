//! Exit codes, the same for every subcommand (`exec --help` documents them).

use bld_remote_client::ClientError;

pub const SUCCESS: u8 = 0;
/// The code failed or was cancelled, a check failed, or anything else went wrong.
pub const FAILURE: u8 = 1;
// 2 is clap's code for a usage error.
/// No Blender could be reached, or none was found to start.
pub const UNREACHABLE: u8 = 3;
/// The code, or the wait for Blender, ran out of time.
pub const TIMEOUT: u8 = 4;

/// The exit code for an error that ended a command.
pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(client) = cause.downcast_ref::<ClientError>() {
            return match client {
                ClientError::Timeout { .. } => TIMEOUT,
                e if e.is_connection_problem() || e.is_untrusted_peer() => UNREACHABLE,
                _ => FAILURE,
            };
        }
        if cause
            .downcast_ref::<crate::discovery::DiscoveryError>()
            .is_some()
        {
            return UNREACHABLE;
        }
    }
    FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn client_errors_map_to_their_codes() {
        let unreachable =
            anyhow::Error::new(ClientError::NotListening { addr: "x".into() }).context("exec");
        assert_eq!(code_for(&unreachable), UNREACHABLE);
        let timeout = anyhow::Error::new(ClientError::Timeout {
            command: "ping",
            after: Duration::from_secs(1),
        });
        assert_eq!(code_for(&timeout), TIMEOUT);
        assert_eq!(code_for(&anyhow::anyhow!("other")), FAILURE);
    }
}
