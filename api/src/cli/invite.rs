//! `prconfirm invite --file F.csv --officer NAME`: a batch of invitations from a file, as
//! `POST /v1/invitations/batch` takes them (CSV with a header row, or NDJSON), each row
//! invited on its own and attributed to the named officer. A progress bar on standard error;
//! one result per row, as NDJSON, on standard output (or `--results`). Running the same file
//! again creates nothing new: its people are `exists`. The invitation e-mails go out from
//! the running service's mail reactor, as for any invitation.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use prconfirm_commands::{Actor, ActorRole, RequestMeta};
use prconfirm_domain::values::ActorId;

use crate::routes::inviting::{self, Format, RowResult};
use crate::settings::Settings;
use crate::startup;

/// What to invite and as whom.
#[derive(Debug, Args)]
pub struct InviteArgs {
    /// The batch: `.csv` (header row: application_number, uci, given_name, family_name,
    /// date_of_birth, email, language, and optionally respond_by, guardian_uci) or `.ndjson`
    /// / `.jsonl` (one invitation object a line). At most 10,000 rows.
    #[arg(long)]
    pub file: PathBuf,
    /// The officer the invitations are recorded as sent by: an enabled officer account.
    #[arg(long)]
    pub officer: String,
    /// Where the per-row results go (NDJSON); standard output by default.
    #[arg(long)]
    pub results: Option<PathBuf>,
}

/// Runs the batch. Exits with an error when any row was invalid (after every row was tried).
///
/// # Errors
/// The file cannot be read or is not a batch; the officer is not an enabled officer; the
/// database cannot be reached; some rows were invalid.
pub async fn run(settings: &Settings, args: InviteArgs) -> anyhow::Result<()> {
    let format = match args.file.extension().and_then(|e| e.to_str()) {
        Some("csv") => Format::Csv,
        Some("ndjson" | "jsonl") => Format::Ndjson,
        _ => bail!(
            "{}: name the batch .csv or .ndjson (.jsonl)",
            args.file.display()
        ),
    };
    let body =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let db = startup::open_database(settings).await?;
    // The same keys as `serve`: the invitations it appends will carry personal fields.
    let privacy = startup::privacy_keys(settings, &db).await?;
    let state = startup::state(settings, db.clone(), privacy)?;
    let officer = state
        .accounts
        .list_staff()
        .await?
        .into_iter()
        .find(|a| a.username == args.officer)
        .filter(|a| a.role == ActorRole::Officer.as_str() && a.disabled_at.is_none());
    let Some(officer) = officer else {
        bail!("{} is not an enabled officer account", args.officer);
    };
    let actor = ActorId::parse(&officer.username).context("the officer's username")?;
    let meta = RequestMeta::new(Actor::new(actor, ActorRole::Officer));

    let lines = body.iter().filter(|b| **b == b'\n').count() as u64;
    let total = match format {
        Format::Csv => lines.saturating_sub(1),
        Format::Ndjson => lines,
    }
    .max(1);
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} rows, {per_sec}, {elapsed} elapsed, about {eta} left {msg}",
        )
        .context("the progress bar's template")?,
    );
    let mut out: Box<dyn Write + Send> = match &args.results {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let mut counts = [0u64; 3];
    let mut write_error = None;
    let rows = inviting::rows(&body, format).map_err(|e| anyhow::anyhow!("{e}"))?;
    inviting::invite_all(&state, &meta, rows, |result: RowResult| {
        counts[match result.status {
            "created" => 0,
            "exists" => 1,
            _ => 2,
        }] += 1;
        bar.inc(1);
        if write_error.is_none() {
            if let Err(e) = serde_json::to_writer(&mut out, &result)
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n"))
            {
                write_error = Some(e);
            }
        }
    })
    .await;
    bar.finish_and_clear();
    out.flush().context("writing the results")?;
    db.close().await;
    if let Some(e) = write_error {
        return Err(e).context("writing the results");
    }
    let [created, exists, invalid] = counts;
    eprintln!("{created} created, {exists} already invited, {invalid} invalid");
    if invalid > 0 {
        bail!("{invalid} rows were invalid and not invited: see their results");
    }
    Ok(())
}
