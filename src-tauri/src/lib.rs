//! The Tauri shell: a window with the Leptos UI, and the device node inside the app.
//!
//! Thin on purpose: commands that hand requests to the node (`node`, and `lead` for
//! the lead's pages, which the node passes to the server), that follow a stream of the
//! server's events for a lead's page (`follow_events`, `unfollow_events`; each event
//! comes to the UI as `rapport://lead-event`), and that save a file the lead exported
//! (`save_file`, see [`downloads`]); and one event stream (`rapport://node`) with the
//! node's sync progress. Everything else lives in `rapport-node`, which also runs
//! headless in the CLI and the tests.

mod downloads;
mod streams;

use std::path::PathBuf;

use rapport_api::{ApiError, Event, Request, Response, ServerCall, ServerReply};
use rapport_node::{KeyStorage, Node, NodeOptions};
use tauri::{Emitter, Manager, RunEvent};

use streams::Streams;

/// The event the UI listens to (see app-ui/src/transport.rs).
const NODE_EVENT: &str = "rapport://node";

/// The node, or why it could not open (a wrong key, an unreadable folder): the UI
/// shows that error on every request instead of the app failing to start.
struct AppNode(Result<Node, ApiError>);

impl AppNode {
    fn get(&self) -> Result<&Node, ApiError> {
        self.0.as_ref().map_err(Clone::clone)
    }
}

/// One request to the device node.
#[tauri::command]
async fn node(request: Request, app: tauri::State<'_, AppNode>) -> Result<Response, ApiError> {
    app.get()?.handle(request).await
}

/// One call to the server's API for the lead's pages.
#[tauri::command]
async fn lead(call: ServerCall, app: tauri::State<'_, AppNode>) -> Result<ServerReply, ApiError> {
    app.get()?.call_server(call).await
}

/// Follows the server's event stream of `call` for a lead's page: returns once the
/// server has answered; then each event's name, and the stream's end, come to the UI
/// as `rapport://lead-event` with `stream_id` (chosen by the page).
#[tauri::command(rename_all = "snake_case")]
async fn follow_events(
    call: ServerCall,
    stream_id: String,
    app: tauri::AppHandle,
    node: tauri::State<'_, AppNode>,
    streams: tauri::State<'_, Streams>,
) -> Result<(), ApiError> {
    let events = node.get()?.follow_server(call).await?;
    streams.start(&app, stream_id, events)
}

/// Stops following the stream `stream_id` (the page left); nothing if it has ended.
#[tauri::command(rename_all = "snake_case")]
fn unfollow_events(stream_id: String, streams: tauri::State<'_, Streams>) {
    streams.stop(&stream_id);
}

/// Saves `bytes` as `name` in the downloads folder (never over another file) and
/// returns the file's full path.
#[tauri::command]
async fn save_file(
    name: String,
    bytes: Vec<u8>,
    app: tauri::AppHandle,
) -> Result<String, ApiError> {
    let dir = download_dir(&app)?;
    let path = tauri::async_runtime::spawn_blocking(move || downloads::save(&dir, &name, &bytes))
        .await
        .map_err(|e| {
            ApiError::new(
                "save_failed",
                format!("the file could not be saved ({e}); try again"),
            )
        })??;
    Ok(path.display().to_string())
}

/// Where saved files go: `RAPPORT_DOWNLOAD_DIR` if set (tests, a shared folder), else
/// the user's downloads folder.
fn download_dir(app: &tauri::AppHandle) -> Result<PathBuf, ApiError> {
    if let Some(dir) = std::env::var_os("RAPPORT_DOWNLOAD_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    app.path().download_dir().map_err(|e| {
        ApiError::new(
            "no_download_dir",
            format!("the app found no downloads folder ({e}); set RAPPORT_DOWNLOAD_DIR to the folder files should be saved in"),
        )
    })
}

/// Where the device keeps its data: `RAPPORT_DEVICE_DIR` if set (tests, several
/// profiles on one machine), else the platform's app data folder.
fn data_dir(app: &tauri::AppHandle) -> Result<PathBuf, ApiError> {
    if let Some(dir) = std::env::var_os("RAPPORT_DEVICE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    app.path().app_data_dir().map_err(|e| {
        ApiError::new(
            "no_data_dir",
            format!("the app found no folder for its data ({e}); set RAPPORT_DEVICE_DIR"),
        )
    })
}

fn open_node(app: &tauri::AppHandle) -> Result<Node, ApiError> {
    let mut options = NodeOptions::new(data_dir(app)?);
    if let Ok(storage) = std::env::var("RAPPORT_KEY_STORAGE") {
        options.key_storage = storage
            .parse::<KeyStorage>()
            .map_err(|e| ApiError::new("bad_key_storage", format!("RAPPORT_KEY_STORAGE: {e}")))?;
    }
    // The company CA when the server's certificate is its own: RAPPORT_CA_CERT, else
    // the node trusts ca.pem in the data folder if it is there.
    options.ca_cert = std::env::var_os("RAPPORT_CA_CERT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    options.auto_sync = true;
    let node = tauri::async_runtime::block_on(Node::open(options)).map_err(ApiError::from)?;
    if let Some(warning) = node.key_warning() {
        tracing::warn!("{warning}");
    }
    Ok(node)
}

/// Passes the node's events to the UI for as long as the app runs.
fn forward_events(app: tauri::AppHandle, node: &Node) {
    let mut events = node.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    let _ = app.emit(NODE_EVENT, &event);
                }
                // The UI missed some progress: a DocsChanged makes it reload.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    let _ = app.emit(NODE_EVENT, &Event::DocsChanged { doc_ids: vec![] });
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

/// Logs to `rapport.log` in the data folder (what support asks a rep for: there is no
/// console on a tablet), or to stderr when the folder cannot be written.
fn start_logging(app: &tauri::AppHandle) {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("RAPPORT_LOG").unwrap_or_else(|_| "info".into())
    };
    let file = data_dir(app).ok().and_then(|dir| {
        let mut folder = std::fs::DirBuilder::new();
        folder.recursive(true);
        // Only the user may read the device's files (the node makes it so too).
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
        folder.create(&dir).ok()?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("rapport.log"))
            .ok()
    });
    let _ = match file {
        Some(file) => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .try_init(),
        None => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .try_init(),
    };
}

/// Starts the app (desktop `main`, or the mobile entry point).
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    let app = tauri::Builder::default()
        .setup(|app| {
            let handle = app.handle().clone();
            start_logging(&handle);
            let node = open_node(&handle);
            match &node {
                Ok(node) => forward_events(handle, node),
                Err(err) => tracing::error!("the device node did not open: {err}"),
            }
            app.manage(AppNode(node));
            app.manage(Streams::default());
            Ok(())
        })
        // A page that loads anew (the UI's other bundle, a reload) has dropped its
        // listeners without saying so: the streams it followed would run for nobody.
        .on_page_load(|webview, payload| {
            if payload.event() == tauri::webview::PageLoadEvent::Started
                && let Some(streams) = webview.try_state::<Streams>()
            {
                streams.stop_all();
            }
        })
        .invoke_handler(tauri::generate_handler![
            node,
            lead,
            follow_events,
            unfollow_events,
            save_file
        ])
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(err) => {
            eprintln!("Rapport could not start: {err}");
            std::process::exit(1);
        }
    };
    app.run(|handle, event| {
        if let RunEvent::Exit = event
            && let Some(state) = handle.try_state::<AppNode>()
            && let Ok(node) = state.get()
        {
            // Let a sync run reach a safe point and close the database cleanly.
            tauri::async_runtime::block_on(node.shutdown());
        }
    });
}
