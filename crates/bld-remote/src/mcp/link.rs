//! The MCP server's link to Blender, made lazily: the server starts without a Blender and
//! finds one when a tool is called. Two connections: one runs this MCP session's code (its
//! namespace in Blender belongs to this session), the other carries everything else, so
//! `check_connection_status` or `cancel_job` answer while code runs (a connection handles its
//! requests in order).

use crate::app::App;
use bld_remote_client::{Client, ClientError};
use std::sync::Arc;

#[derive(Clone)]
pub struct Clients {
    pub exec: Client,
    pub control: Client,
    pub host: String,
    pub port: u16,
}

pub struct Link {
    app: Arc<App>,
    port: Option<u16>,
    host: Option<String>,
    current: tokio::sync::Mutex<Option<Clients>>,
}

impl Link {
    pub fn new(app: Arc<App>, port: Option<u16>, host: Option<String>) -> Link {
        Link {
            app,
            port,
            host,
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// The clients for the Blender to talk to, resolving which one on first use.
    pub async fn clients(&self) -> Result<Clients, String> {
        let mut current = self.current.lock().await;
        if let Some(clients) = current.as_ref() {
            return Ok(clients.clone());
        }
        let (host, port) = self
            .app
            .target(self.port, self.host.clone())
            .map_err(|err| err.to_string())?;
        let options = self.app.client_options(host.clone(), port);
        let clients = Clients {
            exec: Client::new(options.clone()),
            control: Client::new(options),
            host,
            port,
        };
        *current = Some(clients.clone());
        Ok(clients)
    }

    /// After "nothing listening", look for a Blender again on the next call: one may have been
    /// started on another port since (when the port was not fixed by flag, env or config).
    pub async fn after_error(&self, err: &ClientError) {
        if matches!(err, ClientError::NotListening { .. })
            && self.port.is_none()
            && self.app.config.port.is_none()
        {
            *self.current.lock().await = None;
        }
    }
}
