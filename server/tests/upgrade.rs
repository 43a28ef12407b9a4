//! A database whose projections were written by an earlier version: a programme's row
//! holding every client in its body, and client rows with no entry and no company key
//! (migration 0007). The lead reads the same programme, status and duplicate check
//! before the programme is projected again and after.

use rapport_domain::DocId;
use rapport_testkit::{Backend, TestLead, TestServer, eventually};
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};

/// Runs `sql` with `binds` on the server's database, behind its back; the first
/// column of the first row as a number, if it returns one.
async fn raw(ts: &TestServer, sql: &str, binds: &[&str]) -> Option<i64> {
    sqlx::any::install_default_drivers();
    let url = match &ts.config.database_url {
        Some(url) => url.expose().to_owned(),
        None => format!("sqlite://{}", ts.config.sqlite_path().display()),
    };
    let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
    let mut query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
    for b in binds {
        query = query.bind(*b);
    }
    let out = query.fetch_optional(&pool).await.expect(sql);
    pool.close().await;
    out
}

/// What the lead reads of the programme: the programme, the list of programmes and
/// the status's counts.
async fn lead_reads(ts: &TestServer, lead: &TestLead, programme: DocId) -> (Value, Value, Value) {
    let get = |path: String| async move {
        let (status, body) = ts.call(Method::GET, &path, Some(&lead.token), None).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    };
    let p = get(format!("/api/v1/programmes/{programme}")).await;
    let list = get("/api/v1/programmes".into()).await;
    let status = get(format!("/api/v1/programmes/{programme}/status")).await;
    (
        p,
        list,
        json!([
            status["clients_total"],
            status["clients_unassigned"],
            status["reps"]
        ]),
    )
}

async fn add(ts: &TestServer, lead: &TestLead, programme: DocId, company: &str) -> (u16, Value) {
    ts.call(
        Method::POST,
        &format!("/api/v1/programmes/{programme}/clients"),
        Some(&lead.token),
        Some(json!({"company": company, "segment": "corporate"})),
    )
    .await
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_of_an_earlier_version_read_the_same_before_and_after_projecting_again(
    #[case] backend: Backend,
) {
    let Some(mut ts) = TestServer::start(backend).await else {
        return;
    };
    let lead = ts.lead().await;
    let programme = ts.programme(&lead).await;
    ts.add_rep(&lead, programme, "ivanov", "Иван Иванов").await;
    ts.add_client(&lead, programme, "ООО «Ромашка»", "ivanov")
        .await;
    ts.add_client(&lead, programme, "ИП Ёлкин", "ivanov").await;
    assert_eq!(add(&ts, &lead, programme, "АО «Север»").await.0, 201);
    let before = lead_reads(&ts, &lead, programme).await;
    assert_eq!(
        before.0["clients"].as_object().map(serde_json::Map::len),
        Some(3),
        "{}",
        before.0["clients"]
    );
    assert_eq!(
        (&before.2[0], &before.2[1]),
        (&json!(3), &json!(1)),
        "{}",
        before.2
    );

    // The projections as the earlier version wrote them: the whole programme in its
    // row (what the lead's API returns is that JSON), no entries, no company keys.
    ts.stop().await;
    let whole = serde_json::to_string(&before.0).expect("json");
    let id = programme.to_string();
    let old_body = "UPDATE doc_meta SET body = $1 WHERE doc_id = $2";
    raw(&ts, old_body, &[&whole, &id]).await;
    for sql in [
        "UPDATE programme_clients SET entry = NULL, company_key = NULL WHERE programme_id = $1",
        "UPDATE doc_meta SET company_key = NULL WHERE kind = 'client' OR doc_id = $1",
    ] {
        raw(&ts, sql, &[&id]).await;
    }
    ts.restart_on_same_port().await;
    let empty = "SELECT COUNT(*) FROM programme_clients WHERE programme_id = $1 AND entry IS NULL";
    assert_eq!(
        raw(&ts, empty, &[&id]).await,
        Some(3),
        "not projected again"
    );
    assert_eq!(lead_reads(&ts, &lead, programme).await, before);
    // The duplicate check reads the names it has no key for.
    let (status, body) = add(&ts, &lead, programme, " ооо «ромашка» ").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "duplicate_company");

    // The migration's own statements: everything is projected again.
    ts.stop().await;
    raw(
        &ts,
        "UPDATE doc_meta SET heads = '' WHERE kind IN ('programme', 'client')",
        &[],
    )
    .await;
    raw(&ts, "UPDATE projector SET cursor = '' WHERE id = 1", &[]).await;
    ts.restart_on_same_port().await;
    let keyless = "SELECT COUNT(*) FROM programme_clients WHERE programme_id = $1
                   AND (entry IS NULL OR company_key IS NULL)";
    eventually("the programme and its clients projected again", || async {
        (raw(&ts, keyless, &[&id]).await == Some(0)).then_some(())
    })
    .await;
    assert_eq!(lead_reads(&ts, &lead, programme).await, before);
    let body_size = "SELECT CAST(LENGTH(body) AS BIGINT) FROM doc_meta WHERE doc_id = $1";
    let small = raw(&ts, body_size, &[&id]).await.expect("programme row");
    assert!(
        usize::try_from(small).expect("size") < whole.len(),
        "the row no longer holds the clients: {small} of {} bytes",
        whole.len()
    );
    for (company, expected) in [("ип ёлкин", 409), ("ИП ЁЛКИН", 409), ("ИП Ёлкина", 201)]
    {
        let (status, body) = add(&ts, &lead, programme, company).await;
        assert_eq!(status, expected, "{company}: {body}");
    }
    let after = lead_reads(&ts, &lead, programme).await;
    assert_eq!(
        after.0["clients"].as_object().map(serde_json::Map::len),
        Some(4)
    );
}
