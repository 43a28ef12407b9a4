//! `rapport-device`: a rep's device without a UI — pair, list clients, fill visits,
//! sync — over the same node the app embeds. Every command prints JSON with `--json`
//! (one document on stdout; errors as `{"error": {"code", "message"}}` and exit 1).
//! Without it, `clients` and `status` print a few short lines for people (a line per
//! client; server, pending documents, last sync, last error, stopped documents), the
//! other commands indented JSON, and errors go to stderr. Usage errors exit 2.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rapport_api::{AnswerValue, ApiError, PairRequest, Request, Response, StartVisit, VisitEdit};
use rapport_domain::{DocId, ScalarAnswer};
use rapport_node::{KeyStorage, Node, NodeOptions};

/// A rep's device, headless.
#[derive(Parser, Debug)]
#[command(name = "rapport-device", version, about)]
struct Cli {
    /// The device's data folder (database, key file).
    #[arg(
        long,
        global = true,
        env = "RAPPORT_DEVICE_DIR",
        default_value = "rapport-device"
    )]
    data_dir: PathBuf,
    /// Where the database key is kept: auto (keychain, else a file), keychain, file.
    #[arg(
        long,
        global = true,
        env = "RAPPORT_KEY_STORAGE",
        default_value = "auto"
    )]
    key_storage: KeyStorage,
    /// A PEM file with the company CA's certificate, trusted besides the system's
    /// authorities (default: ca.pem in the data folder, if there).
    #[arg(long, global = true, env = "RAPPORT_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// Print JSON for scripts instead of text for people.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Pair with a server using the lead's one-time code.
    Pair {
        /// The server, e.g. http://192.168.1.10:8080.
        #[arg(long)]
        server: String,
        /// The pairing code, e.g. 7K2M-Q9XD-4HTB.
        #[arg(long)]
        code: String,
        /// A label for this device.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// My clients and the state of their visits.
    Clients,
    /// Visits: new, show, edit, complete, conflicts, history.
    #[command(subcommand)]
    Visit(VisitCommand),
    /// Sync now and print the result.
    Sync,
    /// This device and how sync stands.
    Status,
    /// Keep running and sync automatically until interrupted (Ctrl-C).
    Run,
}

#[derive(Subcommand, Debug)]
enum VisitCommand {
    /// Start a visit for a client.
    New {
        /// The client's id (see `clients`).
        #[arg(long)]
        client: DocId,
        /// Meeting date, YYYY-MM-DD (default: today).
        #[arg(long)]
        date: Option<String>,
    },
    /// Show a visit with its questionnaire.
    Show {
        /// The visit's id.
        visit: DocId,
    },
    /// Edit answers; several edits apply in the order given, each saved on its own.
    Edit(EditArgs),
    /// Complete a visit (it stays editable).
    Complete {
        /// The visit's id.
        visit: DocId,
    },
    /// The concurrent values of an answer, with who wrote each.
    Conflicts {
        /// The visit's id.
        visit: DocId,
        /// The question's id.
        question: String,
    },
    /// Who changed an answer, when, to what.
    History {
        /// The visit's id.
        visit: DocId,
        /// The question's id.
        question: String,
    },
}

#[derive(Args, Debug)]
struct EditArgs {
    /// The visit's id.
    visit: DocId,
    /// A text answer: QUESTION=TEXT.
    #[arg(long = "text", value_name = "QUESTION=TEXT")]
    text: Vec<String>,
    /// A yes/no answer: QUESTION=yes|no.
    #[arg(long = "yes-no", value_name = "QUESTION=yes|no")]
    yes_no: Vec<String>,
    /// A number answer: QUESTION=NUMBER.
    #[arg(long = "number", value_name = "QUESTION=NUMBER")]
    number: Vec<String>,
    /// A date answer: QUESTION=YYYY-MM-DD.
    #[arg(long = "date", value_name = "QUESTION=DATE")]
    date: Vec<String>,
    /// A choice answer: QUESTION=OPTION.
    #[arg(long = "choice", value_name = "QUESTION=OPTION")]
    choice: Vec<String>,
    /// Choose the value of a conflicting yes/no answer: QUESTION=yes|no.
    #[arg(long = "resolve-yes-no", value_name = "QUESTION=yes|no")]
    resolve_yes_no: Vec<String>,
    /// Any edit as JSON (see rapport_api::VisitEdit), e.g.
    /// '{"kind":"referral","id":null,"referral":{"name":"Пётр","company":"","contact":"","note":""}}'.
    #[arg(long = "json-edit", value_name = "JSON")]
    json_edit: Vec<String>,
}

fn split(arg: &str) -> Result<(String, String), ApiError> {
    match arg.split_once('=') {
        Some((q, v)) if !q.trim().is_empty() => Ok((q.trim().to_owned(), v.to_owned())),
        _ => Err(ApiError::new(
            "bad_argument",
            format!("{arg:?} must be QUESTION=VALUE"),
        )),
    }
}

fn yes_no(v: &str) -> Result<bool, ApiError> {
    match v.trim().to_lowercase().as_str() {
        "yes" | "true" | "да" | "1" => Ok(true),
        "no" | "false" | "нет" | "0" => Ok(false),
        other => Err(ApiError::new(
            "bad_argument",
            format!("{other:?} is not yes or no"),
        )),
    }
}

impl EditArgs {
    fn edits(&self) -> Result<Vec<VisitEdit>, ApiError> {
        let mut edits = Vec::new();
        for a in &self.text {
            let (question_id, value) = split(a)?;
            edits.push(VisitEdit::Text { question_id, value });
        }
        let scalar =
            |question_id: String, value: ScalarAnswer| VisitEdit::Scalar { question_id, value };
        for a in &self.yes_no {
            let (q, v) = split(a)?;
            edits.push(scalar(q, ScalarAnswer::YesNo(yes_no(&v)?)));
        }
        for a in &self.number {
            let (q, v) = split(a)?;
            let n: f64 = v
                .trim()
                .replace(',', ".")
                .parse()
                .map_err(|_| ApiError::new("bad_argument", format!("{v:?} is not a number")))?;
            edits.push(scalar(q, ScalarAnswer::Number(n)));
        }
        for a in &self.date {
            let (q, v) = split(a)?;
            edits.push(scalar(q, ScalarAnswer::Date(v)));
        }
        for a in &self.choice {
            let (q, v) = split(a)?;
            edits.push(scalar(q, ScalarAnswer::Choice(v)));
        }
        for a in &self.resolve_yes_no {
            let (question_id, v) = split(a)?;
            edits.push(VisitEdit::Resolve {
                question_id,
                chosen: AnswerValue::Bool(yes_no(&v)?),
            });
        }
        for j in &self.json_edit {
            edits.push(serde_json::from_str(j).map_err(|e| {
                ApiError::new(
                    "bad_argument",
                    format!("--json-edit is not a visit edit: {e}"),
                )
            })?);
        }
        if edits.is_empty() {
            return Err(ApiError::new(
                "bad_argument",
                "give at least one edit, e.g. --text q_needs='Нужен второй канал'",
            ));
        }
        Ok(edits)
    }
}

fn today() -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::now_local()
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        .date()
        .format(format)
        .unwrap_or_default()
}

/// What a command answered, for printing.
struct Output {
    /// The node's responses, in order.
    responses: Vec<Response>,
    /// The command was `status` (device and sync status, shown together as text).
    status: bool,
}

async fn run(cli: Cli) -> Result<Output, ApiError> {
    let mut options = NodeOptions::new(&cli.data_dir);
    options.key_storage = cli.key_storage;
    options.ca_cert = cli.ca_cert.clone();
    options.auto_sync = matches!(cli.command, Command::Run);
    let node = Node::open(options).await.map_err(ApiError::from)?;
    // On stderr in JSON mode too: scripts read stdout, people see the warning.
    if let Some(w) = node.key_warning() {
        eprintln!("warning: {w}");
    }
    let call = |request| {
        let node = node.clone();
        async move { node.handle(request).await }
    };
    let status = matches!(cli.command, Command::Status);
    // The command runs inside a block so that the node is shut down (database closed
    // cleanly) on errors as well as on success.
    let result: Result<Vec<Response>, ApiError> = async {
        Ok(match cli.command {
            Command::Pair {
                server,
                code,
                label,
            } => {
                let paired = call(Request::Pair(PairRequest {
                    server_url: server,
                    code,
                    label,
                }))
                .await?;
                // Fetch the programme and the clients right away; the device then knows
                // the programme's and the rep's names (none when the sync failed).
                let synced = call(Request::SyncNow).await?;
                let device = call(Request::Device).await.unwrap_or(paired);
                vec![device, synced]
            }
            Command::Clients => vec![call(Request::Clients).await?],
            Command::Visit(v) => match v {
                VisitCommand::New { client, date } => vec![
                    call(Request::StartVisit(StartVisit {
                        client_id: client,
                        date: date.unwrap_or_else(today),
                    }))
                    .await?,
                ],
                VisitCommand::Show { visit } => {
                    vec![call(Request::OpenVisit { visit_id: visit }).await?]
                }
                VisitCommand::Edit(args) => {
                    let mut out = Vec::new();
                    for edit in args.edits()? {
                        let saved = call(Request::EditVisit {
                            visit_id: args.visit,
                            edit,
                        })
                        .await;
                        match saved {
                            Ok(saved) => out.push(saved),
                            // Each edit is saved on its own: say which ones are in.
                            Err(mut e) if !out.is_empty() => {
                                e.message = format!(
                                    "{} (the {} edit(s) given before it are saved)",
                                    e.message,
                                    out.len()
                                );
                                return Err(e);
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    out
                }
                VisitCommand::Complete { visit } => {
                    vec![call(Request::CompleteVisit { visit_id: visit }).await?]
                }
                VisitCommand::Conflicts { visit, question } => vec![
                    call(Request::AnswerConflicts {
                        visit_id: visit,
                        question_id: question,
                    })
                    .await?,
                ],
                VisitCommand::History { visit, question } => vec![
                    call(Request::AnswerHistory {
                        visit_id: visit,
                        question_id: question,
                    })
                    .await?,
                ],
            },
            Command::Sync => vec![call(Request::SyncNow).await?],
            Command::Status => {
                let sync = call(Request::SyncStatus).await?;
                match call(Request::Device).await {
                    Ok(device) => vec![device, sync],
                    Err(e) if e.code == "not_paired" => vec![sync],
                    Err(e) => return Err(e),
                }
            }
            Command::Run => {
                eprintln!("syncing automatically; Ctrl-C to stop");
                let mut events = node.subscribe();
                loop {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => break,
                        event = events.recv() => {
                            if let Ok(event) = event {
                                println!("{}", serde_json::to_string(&event).unwrap_or_default());
                            }
                        }
                    }
                }
                vec![call(Request::SyncStatus).await?]
            }
        })
    }
    .await;
    node.shutdown().await;
    let out = result?;
    Ok(Output {
        responses: out,
        status,
    })
}

/// The JSON of `--json`: one response as itself, several as an array.
fn to_json(out: &Output) -> Result<serde_json::Value, ApiError> {
    let value = match out.responses.as_slice() {
        [one] => serde_json::to_value(one),
        many => serde_json::to_value(many),
    };
    value.map_err(|e| ApiError::new("internal", e.to_string()))
}

/// Text for people: short lines for clients, a visit, edits, conflicts, history and
/// status; indented JSON for the rest (pairing).
fn to_text(out: &Output) -> Result<String, ApiError> {
    match out.responses.as_slice() {
        [Response::Clients(cards)] => Ok(text::clients(cards)),
        [Response::Visit(detail)] => Ok(text::visit(detail)),
        [Response::Conflicts(values)] => Ok(text::conflicts(values)),
        [Response::History(entries)] => Ok(text::history(entries)),
        [Response::Sync(sync)] if !out.status => Ok(text::sync(sync)),
        saved if saved.iter().all(|r| matches!(r, Response::Saved(_))) => Ok(text::saved(saved)),
        responses if out.status => {
            let device = responses.iter().find_map(|r| match r {
                Response::Device(d) => Some(d),
                _ => None,
            });
            let sync = responses.iter().find_map(|r| match r {
                Response::Sync(s) => Some(s),
                _ => None,
            });
            Ok(text::status(device, sync))
        }
        _ => serde_json::to_string_pretty(&to_json(out)?)
            .map_err(|e| ApiError::new("internal", e.to_string())),
    }
}

mod text;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RAPPORT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    runtime.shutdown_timeout(Duration::from_secs(5));
    let printed = result.and_then(|out| {
        if json {
            to_json(&out).map(|v| v.to_string())
        } else {
            to_text(&out)
        }
    });
    match printed {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            if json {
                println!("{}", serde_json::json!({"error": e}));
            } else {
                eprintln!("error: {} [{}]", e.message, e.code);
                if let Some(missing) = &e.missing {
                    for m in missing {
                        eprintln!("  - {} ({})", m.wording.ru, m.question_id);
                    }
                }
            }
            ExitCode::FAILURE
        }
    }
}
