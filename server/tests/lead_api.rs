//! The lead's API over HTTP against the real server in-process: reps, clients, import,
//! template, assignments, follow-ups, referrals, opportunities and exports, with
//! Cyrillic data. Runs on SQLite always, and on PostgreSQL when
//! `RAPPORT_TEST_DATABASE_URL` is set (a fresh database per test, dropped at the end).

use std::io::Cursor;
use std::time::Duration;

use rapport_domain::visit::{
    OpportunityInput, ReferralInput, add_follow_up, new_visit, put_opportunity, put_referral,
    set_text_answer,
};
use rapport_domain::{DocId, OpportunityKind, Programme, VisitInit};
use rapport_server::Server;
use reqwest::{Response, StatusCode};
use rstest::rstest;
use serde_json::{Value, json};

use rapport_testkit::{Backend, PgDb, fresh_config};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A running server with a signed-in lead and one programme.
struct Lead {
    server: Server,
    http: reqwest::Client,
    token: String,
    programme: String,
    // Dropped after the server: the database outlives its users.
    _pg: Option<PgDb>,
    _dir: tempfile::TempDir,
}

impl Lead {
    /// `None` for PostgreSQL when no test database is configured.
    async fn start(backend: Backend) -> Option<Self> {
        let (mut config, dir, pg) = fresh_config(backend).await?;
        config.max_import_bytes = 64 * 1024;
        let server = Server::start(config).await.expect("server starts");
        rapport_server::accounts::create_lead(
            &server.state,
            "Руководитель@example.ru",
            "Ольга Смирнова",
            "очень-длинный-пароль-2027",
        )
        .await
        .expect("lead created");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("http client");
        let session: Value = http
            .post(format!("{}/api/v1/auth/sign-in", server.url()))
            .json(&json!({"email": "руководитель@example.ru", "password": "очень-длинный-пароль-2027"}))
            .send()
            .await
            .expect("sign-in")
            .json()
            .await
            .expect("session json");
        let token = session["token"].as_str().expect("token").to_owned();
        let mut lead = Self {
            server,
            http,
            token,
            programme: String::new(),
            _pg: pg,
            _dir: dir,
        };
        let (status, p) = lead
            .send(lead.http.post(lead.url("/api/v1/programmes")).json(
                &json!({"name": "VIP-программа 2027", "start": "2027-01-01", "end": "2027-12-31"}),
            ))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
        lead.programme = p["id"].as_str().expect("programme id").to_owned();
        Some(lead)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    fn p(&self, rest: &str) -> String {
        self.url(&format!("/api/v1/programmes/{}{rest}", self.programme))
    }

    async fn raw(&self, req: reqwest::RequestBuilder) -> Response {
        req.bearer_auth(&self.token).send().await.expect("request")
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = self.raw(req).await;
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn get(&self, rest: &str) -> Value {
        let (status, v) = self.send(self.http.get(self.p(rest))).await;
        assert_eq!(status, StatusCode::OK, "GET {rest}: {v}");
        v
    }

    /// GETs `rest` until `ok` holds (at most 5 s), then returns the last answer.
    ///
    /// Lists come from projections. On PostgreSQL the change feed hides rows of
    /// transactions newer than the oldest one running anywhere in the cluster, so a
    /// projection may trail the write it follows by a moment when other work (another
    /// test) runs; SQLite answers at once.
    async fn until(&self, rest: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        for _ in 0..200 {
            let v = self.get(rest).await;
            if ok(&v) || tokio::time::Instant::now() > deadline {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.get(rest).await
    }

    async fn programme(&self) -> Programme {
        serde_json::from_value(self.get("").await).expect("programme json")
    }

    async fn programme_until(&self, ok: impl Fn(&Programme) -> bool) -> Programme {
        let v = self
            .until("", |v| {
                serde_json::from_value::<Programme>(v.clone()).is_ok_and(|p| ok(&p))
            })
            .await;
        serde_json::from_value(v).expect("programme json")
    }

    async fn companies(&self) -> Vec<String> {
        self.companies_until(|_| true).await
    }

    async fn companies_until(&self, ok: impl Fn(usize) -> bool) -> Vec<String> {
        let clients = self
            .until("/clients", |v| v.as_array().is_some_and(|a| ok(a.len())))
            .await;
        clients
            .as_array()
            .expect("client list")
            .iter()
            .map(|c| c["company"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (
                u32::try_from(r).expect("row"),
                u16::try_from(c).expect("col"),
            );
            ws.write_string(r, c, *cell).expect("cell");
        }
    }
    wb.save_to_buffer().expect("xlsx")
}

fn parse_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(bytes).expect("utf-8");
    let text = text.strip_prefix('\u{feff}').expect("BOM for Excel");
    csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("csv row").iter().map(str::to_owned).collect())
        .collect()
}

fn parse_xlsx(bytes: Vec<u8>) -> Vec<Vec<String>> {
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(bytes)).expect("xlsx opens");
    let range = wb
        .worksheet_range_at(0)
        .expect("a sheet")
        .expect("sheet reads");
    range
        .rows()
        .map(|r| r.iter().map(ToString::to_string).collect())
        .collect()
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lead_runs_a_programme_through_the_api(#[case] backend: Backend) {
    let Some(lead) = Lead::start(backend).await else {
        return;
    };
    tokio::time::timeout(Duration::from_secs(60), run_programme(&lead))
        .await
        .expect("the whole flow within 60 s");
}

async fn run_programme(lead: &Lead) {
    let h = &lead.http;

    // Reps: add two, edit one, list with load.
    let (s, ivan) = lead
        .send(h.post(lead.p("/reps")).json(&json!({"name": "Иван Петров", "email": "ivan@example.ru", "capacity": {"kind": "dedicated"}, "active": true})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{ivan}");
    let ivan = ivan["id"].as_str().expect("rep id").to_owned();
    assert!(ivan.starts_with("rep-"), "{ivan}");
    let (s, maria) = lead
        .send(h.post(lead.p("/reps")).json(&json!({"name": "Мария", "email": "maria@example.ru", "capacity": {"kind": "share", "percent": 50}})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{maria}");
    let maria = maria["id"].as_str().expect("rep id").to_owned();
    let (s, edited) = lead
        .send(h.put(lead.p(&format!("/reps/{maria}"))).json(&json!({"name": "Мария Соколова 🌟", "email": "maria@example.ru", "capacity": {"kind": "share", "percent": 40}, "active": true})))
        .await;
    assert_eq!(s, StatusCode::OK, "{edited}");
    assert_eq!(edited["name"], "Мария Соколова 🌟");
    let (s, bad) = lead
        .send(
            h.post(lead.p("/reps"))
                .json(&json!({"name": "Пётр", "capacity": {"kind": "share", "percent": 0}})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    let (s, _) = lead
        .send(
            h.put(lead.p("/reps/rep-nobody"))
                .json(&json!({"name": "Никто", "capacity": {"kind": "dedicated"}})),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "an unknown rep is not silently added"
    );
    let reps = lead
        .until("/reps", |v| v.as_array().is_some_and(|a| a.len() == 2))
        .await;
    assert_eq!(reps.as_array().map(Vec::len), Some(2), "{reps}");

    // One client by hand, then edited.
    let (s, added) = lead
        .send(h.post(lead.p("/clients")).json(&json!({
            "company": "ООО «Ромашка»", "segment": "corporate", "original_rep": "ivan@example.ru",
            "relationship": "excellent", "monopolised": false,
            "contact": {"name": "Анна Кузнецова", "role": "Финансовый директор"},
            "notes": "Любит пунктуальность"})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{added}");
    let romashka = added["id"].as_str().expect("client id").to_owned();
    let (s, dup) = lead
        .send(
            h.post(lead.p("/clients"))
                .json(&json!({"company": "ооо «ромашка»", "segment": "corporate"})),
        )
        .await;
    assert_eq!(
        (s, dup["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("duplicate_company"))
    );
    let (s, edited) = lead
        .send(h.put(lead.p(&format!("/clients/{romashka}"))).json(&json!({"company": "ООО «Ромашка-Плюс»", "segment": "key_private", "notes": "Любит пунктуальность и чай ☕"})))
        .await;
    assert_eq!(s, StatusCode::OK, "{edited}");
    assert_eq!(edited["notes"], "Любит пунктуальность и чай ☕");
    let (s, _) = lead
        .send(
            h.put(lead.p(&format!("/clients/{}", DocId::random())))
                .json(&json!({"company": "Х"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // CSV import: one bad segment, one duplicate of an existing client, two good rows.
    let csv = "Компания;Сегмент;Менеджер;Отношения;Контакт\n\
               АО «Север»;корпоративный;maria@example.ru;хорошие;Борис Орлов\n\
               ЗАО «Юг»;непонятный;;;\n\
               ООО «Ромашка-плюс»;корпоративный;;;\n\
               ИП Ёлкин 🎄;частный;;;\n";
    let (s, dry) = lead
        .send(
            h.post(lead.p("/clients/import?dry_run=true"))
                .header("content-type", "text/csv")
                .body(csv),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{dry}");
    assert_eq!(
        (dry["dry_run"].as_bool(), dry["imported"].as_u64()),
        (Some(true), Some(2))
    );
    assert_eq!(
        lead.companies_until(|n| n >= 1).await.len(),
        1,
        "a dry run stores nothing"
    );
    let (s, report) = lead
        .send(
            h.post(lead.p("/clients/import"))
                .header("content-type", "text/csv")
                .body(csv),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["imported"], 2, "{report}");
    let errors: Vec<(u64, &str)> = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap_or(0),
                e["code"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(errors, [(3, "unknown_segment"), (4, "duplicate_company")]);
    let companies = lead.companies_until(|n| n >= 3).await;
    assert_eq!(
        companies,
        ["АО «Север»", "ИП Ёлкин 🎄", "ООО «Ромашка-Плюс»"],
        "good rows are in the client list"
    );
    let clients = lead.get("/clients").await;
    let sever = &clients[0];
    assert_eq!(sever["contacts"], 1);
    assert_eq!(
        sever["original_rep"].as_str(),
        Some(maria.as_str()),
        "rep e-mail resolved to the rep id"
    );

    // XLSX import, by file name.
    let book = xlsx(&[
        &["Компания", "Сегмент", "Монополизирован", "Менеджер"],
        &["ПАО «Восток»", "корпоративный", "да", &ivan],
    ]);
    let (s, report) = lead
        .send(
            h.post(lead.p("/clients/import?filename=клиенты.xlsx"))
                .body(book),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["imported"], 1, "{report}");
    assert!(
        lead.companies_until(|n| n >= 4)
            .await
            .contains(&"ПАО «Восток»".to_owned())
    );

    // Relationship of one client.
    let vostok = lead
        .get("/clients")
        .await
        .as_array()
        .expect("clients")
        .iter()
        .find(|c| c["company"] == "ПАО «Восток»")
        .and_then(|c| c["id"].as_str())
        .expect("vostok")
        .to_owned();
    let (s, rel) = lead
        .send(
            h.put(lead.p(&format!("/clients/{vostok}/relationship")))
                .json(&json!({"original_rep": ivan, "strength": "good", "monopolised": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{rel}");
    assert_eq!(rel["monopolised"], true);

    // Suggestion → apply → the programme shows the assignments.
    let monopolised = |v: &Value| {
        v["assignments"].as_array().is_some_and(|rows| {
            rows.iter()
                .any(|r| r["client_id"] == vostok.as_str() && r["rep_id"] == maria.as_str())
        })
    };
    let sug = lead.until("/assignments/suggestion", monopolised).await;
    let rows = sug["assignments"].as_array().expect("rows");
    assert_eq!(rows.len(), 4, "{sug}");
    let v = rows
        .iter()
        .find(|r| r["client_id"] == vostok.as_str())
        .expect("vostok row");
    assert_eq!(
        v["rep_id"].as_str(),
        Some(maria.as_str()),
        "a monopolised client moves away: {v}"
    );
    assert_eq!(v["company"], "ПАО «Восток»");
    assert!(
        v["reason_ru"]
            .as_str()
            .unwrap_or("")
            .contains("монополизация"),
        "{v}"
    );
    assert!(
        v["reason_en"]
            .as_str()
            .unwrap_or("")
            .contains("monopolised"),
        "{v}"
    );
    // Reps by their names, in both languages; never by their ids.
    for lang in ["reason_ru", "reason_en"] {
        let reason = v[lang].as_str().unwrap_or("");
        assert!(
            reason.contains("Мария Соколова 🌟") && reason.contains("Иван Петров"),
            "{lang}: {reason}"
        );
        assert!(
            !reason.contains(&ivan) && !reason.contains(&maria),
            "{lang} names a rep by id: {reason}"
        );
    }
    let (s, applied) = lead.send(h.post(lead.p("/assignments/apply"))).await;
    assert_eq!(s, StatusCode::OK, "{applied}");
    let programme = lead
        .programme_until(|p| {
            p.assignments
                .values()
                .filter(|a| a.current_rep.is_some())
                .count()
                == 4
        })
        .await;
    assert_eq!(programme.assignments.len(), 4);
    assert!(
        programme
            .assignments
            .values()
            .all(|a| a.current_rep.is_some())
    );
    assert_eq!(
        programme.assignments[&vostok].current_rep.as_deref(),
        Some(maria.as_str())
    );
    let reps = lead.get("/reps").await;
    let load: u64 = reps
        .as_array()
        .expect("reps")
        .iter()
        .filter_map(|r| r["assigned_clients"].as_u64())
        .sum();
    assert_eq!(load, 4);

    // Override with the lead's reason.
    let (s, over) = lead
        .send(
            h.put(lead.p(&format!("/assignments/{romashka}")))
                .json(&json!({"rep_id": maria, "reason": "клиент просил сменить менеджера"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{over}");
    assert_eq!(over["current_rep"].as_str(), Some(maria.as_str()));
    assert_eq!(over["reason"]["note"], "клиент просил сменить менеджера");
    let (s, _) = lead
        .send(
            h.put(lead.p(&format!("/assignments/{romashka}")))
                .json(&json!({"rep_id": maria, "reason": "  "})),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an override needs a reason"
    );

    // Template: add, reword, move, retire.
    let (s, t) = lead
        .send(h.post(lead.p("/template/questions")).json(&json!({"id": "carnegie.hobby", "section": "carnegie", "kind": {"kind": "text"},
            "wording_ru": "Чем увлекается руководитель?", "wording_en": "What is the director's hobby?", "after": "carnegie.proud_of"})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    // A quality check whose target is a most (a delivery time), as the editor sends it.
    let (s, t) = lead
        .send(h.post(lead.p("/template/questions")).json(&json!({"id": "quality.delivery", "section": "quality",
            "kind": {"kind": "quality_check", "service": {"ru": "Доставка", "en": "Delivery"},
                "metric": {"ru": "Срок доставки", "en": "Delivery time"}, "unit": "дн.", "at_most": true},
            "wording_ru": "Сроки доставки соблюдаются?", "wording_en": "Is delivery on time?"})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(
        t["questions"]["quality.delivery"]["kind"]["at_most"], true,
        "{t}"
    );
    let (s, t) = lead
        .send(
            h.put(lead.p("/template/questions/carnegie.hobby"))
                .json(&json!({"wording_ru": "Чем увлекается директор? 🎣", "after": ""})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(
        t["questions"]["carnegie.hobby"]["wording"]["ru"],
        "Чем увлекается директор? 🎣"
    );
    assert_eq!(
        t["questions"]["carnegie.hobby"]["wording"]["en"],
        "What is the director's hobby?"
    );
    let programme = lead
        .programme_until(|p| {
            p.template
                .question("carnegie.hobby")
                .is_some_and(|q| q.wording.ru.contains('🎣'))
        })
        .await;
    let first = programme
        .template
        .active()
        .into_iter()
        .find(|q| q.section == rapport_domain::Section::Carnegie)
        .map(|q| q.id.clone());
    assert_eq!(
        first.as_deref(),
        Some("carnegie.hobby"),
        "moved first in its section"
    );
    let (s, t) = lead
        .send(h.delete(lead.p("/template/questions/carnegie.success_story")))
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["questions"]["carnegie.success_story"]["retired"], true);

    // A visit as a rep's device would make it, stored directly.
    let template = lead
        .programme_until(|p| {
            p.template
                .question("carnegie.success_story")
                .is_some_and(|q| q.retired)
        })
        .await
        .template;
    let visit_id = DocId::random();
    let programme_id: DocId = lead.programme.parse().expect("programme id");
    let mut visit = new_visit(
        automerge::ActorId::random(),
        &VisitInit {
            id: visit_id,
            programme_id,
            client_id: romashka.parse().expect("id"),
            date: "2027-02-03".into(),
            rep_id: maria.clone(),
        },
        &template,
        1,
    )
    .expect("visit");
    set_text_answer(
        &mut visit,
        &template,
        "carnegie.hobby",
        "Рыбалка на Волге 🎣",
        2,
    )
    .expect("answer");
    let fu = add_follow_up(
        &mut visit,
        None,
        "Проверить скорость канала",
        "",
        Some("2020-01-10"),
        3,
    )
    .expect("follow-up");
    put_referral(
        &mut visit,
        None,
        &ReferralInput {
            name: "Сергей Волков".into(),
            company: "ООО «Лес»".into(),
            contact: "+7 900 000-00-00".into(),
            note: "сосед по даче".into(),
        },
        4,
    )
    .expect("referral");
    put_opportunity(
        &mut visit,
        None,
        &OpportunityInput {
            kind: OpportunityKind::CrossSell,
            description: "Резервный канал".into(),
            product: "Интернет".into(),
            estimated_value: 120000.0,
            currency: "RUB".into(),
        },
        5,
    )
    .expect("opportunity");
    rapport_server::edit::create_docs(&lead.server.state, vec![(visit_id, visit)])
        .await
        .expect("visit stored");

    let fus = lead
        .until("/follow-ups?state=open", |v| {
            v.as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    assert_eq!(fus.as_array().map(Vec::len), Some(1), "{fus}");
    assert_eq!(
        (
            fus[0]["overdue"].as_bool(),
            fus[0]["client_company"].as_str()
        ),
        (Some(true), Some("ООО «Ромашка-Плюс»"))
    );
    let (s, patched) = lead
        .send(
            h.patch(lead.p(&format!("/visits/{visit_id}/follow-ups/{fu}")))
                .json(&json!({"state": "done", "owner": "Иван Петров"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{patched}");
    assert_eq!(
        lead.until("/follow-ups?state=open", |v| *v == json!([]))
            .await,
        json!([])
    );
    let done = lead.get("/follow-ups?owner=Иван Петров").await;
    assert_eq!(
        (done[0]["state"].as_str(), done[0]["overdue"].as_bool()),
        (Some("done"), Some(false))
    );
    let (s, _) = lead
        .send(
            h.patch(lead.p(&format!("/visits/{visit_id}/follow-ups/nope")))
                .json(&json!({"state": "done"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = lead
        .send(
            h.patch(lead.p(&format!("/visits/{visit_id}/follow-ups/{fu}")))
                .json(&json!({"due": "31.12.2027"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    let refs = lead.get("/referrals").await;
    assert_eq!(
        (refs[0]["name"].as_str(), refs[0]["client_company"].as_str()),
        (Some("Сергей Волков"), Some("ООО «Ромашка-Плюс»"))
    );
    let opps = lead.get("/opportunities").await;
    assert_eq!(
        (
            opps[0]["kind"].as_str(),
            opps[0]["value"].as_f64(),
            opps[0]["currency"].as_str()
        ),
        (Some("cross_sell"), Some(120000.0), Some("RUB"))
    );
    assert_eq!(opps[0]["rep_id"].as_str(), Some(maria.as_str()));

    // Exports parse back with the Cyrillic content.
    let resp = lead.raw(h.get(lead.p("/exports/visits.csv"))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap_or("")
            .contains("visits.csv")
    );
    let rows = parse_csv(&resp.bytes().await.expect("bytes"));
    let col = rows[0]
        .iter()
        .position(|h| h == "Чем увлекается директор? 🎣")
        .expect("question column");
    assert_eq!(
        &rows[0][..6],
        [
            "Клиент",
            "Дата встречи",
            "Менеджер",
            "Состояние",
            "Проверка",
            "Замечания руководителя"
        ]
    );
    assert_eq!(
        (rows[1][0].as_str(), rows[1][2].as_str()),
        ("ООО «Ромашка-Плюс»", "Мария Соколова 🌟")
    );
    assert_eq!(rows[1][col], "Рыбалка на Волге 🎣");
    let resp = lead.raw(h.get(lead.p("/exports/visits.xlsx"))).await;
    assert_eq!(resp.headers()["content-type"], XLSX);
    let rows = parse_xlsx(resp.bytes().await.expect("bytes").to_vec());
    assert_eq!(rows[1][col], "Рыбалка на Волге 🎣");
    for file in ["follow-ups.csv", "referrals.xlsx"] {
        let resp = lead.raw(h.get(lead.p(&format!("/exports/{file}")))).await;
        assert_eq!(resp.status(), StatusCode::OK, "{file}");
        let bytes = resp.bytes().await.expect("bytes").to_vec();
        let rows = if file.ends_with("csv") {
            parse_csv(&bytes)
        } else {
            parse_xlsx(bytes)
        };
        assert_eq!(rows.len(), 2, "{file}: {rows:?}");
        assert_eq!(rows[1][0], "ООО «Ромашка-Плюс»", "{file}");
    }
    // Every list the lead sees exports too: clients (with their rep) and opportunities.
    let resp = lead.raw(h.get(lead.p("/exports/clients.xlsx"))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], XLSX);
    let rows = parse_xlsx(resp.bytes().await.expect("bytes").to_vec());
    assert_eq!(rows[0][..3], ["Клиент", "Сегмент", "Менеджер"], "{rows:?}");
    assert!(
        rows.iter()
            .any(|r| r[0] == "ООО «Ромашка-Плюс»" && r[2] == "Мария Соколова 🌟"),
        "{rows:?}"
    );
    let resp = lead.raw(h.get(lead.p("/exports/opportunities.csv"))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let rows = parse_csv(&resp.bytes().await.expect("bytes"));
    assert_eq!(
        rows[0][..4],
        ["Клиент", "Дата встречи", "Менеджер", "Вид"],
        "{rows:?}"
    );
    let (s, _) = lead.send(h.get(lead.p("/exports/clients.pdf"))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_file_stores_nothing(#[case] backend: Backend) {
    let Some(lead) = Lead::start(backend).await else {
        return;
    };
    let h = &lead.http;
    let before = lead.programme().await;
    let cases: [(&str, Vec<u8>, StatusCode, &str); 4] = [
        (
            "no company column",
            "Сегмент;Менеджер\nкорпоративный;Иван\n".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_company_column",
        ),
        (
            "header only",
            "Компания;Сегмент\n".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_data_rows",
        ),
        (
            "binary",
            vec![0, 1, 2, 3, 0, 0, 9],
            StatusCode::UNPROCESSABLE_ENTITY,
            "unrecognised_format",
        ),
        (
            "too large",
            format!("Компания\n{}", "ООО «Большая»\n".repeat(5000)).into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "file_too_large",
        ),
    ];
    for (what, body, status, code) in cases {
        let (s, err) = lead
            .send(
                h.post(lead.p("/clients/import"))
                    .header("content-type", "text/csv")
                    .body(body),
            )
            .await;
        assert_eq!(
            (s, err["error"]["code"].as_str()),
            (status, Some(code)),
            "{what}: {err}"
        );
        assert!(
            !err["error"]["message"].as_str().unwrap_or("").is_empty(),
            "{what}"
        );
    }
    // Every row bad: nothing to import, and nothing is written.
    let (s, report) = lead
        .send(
            h.post(lead.p("/clients/import"))
                .header("content-type", "text/csv")
                .body("Компания;Сегмент\nЗАО «Юг»;нет такого\n"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(
        (
            report["imported"].as_u64(),
            report["errors"][0]["line"].as_u64()
        ),
        (Some(0), Some(2))
    );
    assert_eq!(lead.companies().await, Vec::<String>::new());
    assert_eq!(
        lead.programme().await,
        before,
        "the programme document is unchanged"
    );

    // Every new endpoint is described in the OpenAPI document.
    let doc: Value = h
        .get(lead.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("openapi json");
    for path in [
        "/api/v1/programmes/{id}/reps/{rep_id}",
        "/api/v1/programmes/{id}/clients/import",
        "/api/v1/programmes/{id}/clients/{client_id}/relationship",
        "/api/v1/programmes/{id}/template/questions/{qid}",
        "/api/v1/programmes/{id}/assignments/suggestion",
        "/api/v1/programmes/{id}/visits/{visit_id}/follow-ups/{follow_up_id}",
        "/api/v1/programmes/{id}/opportunities",
        "/api/v1/programmes/{id}/exports/{file}",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }

    // Without a session nothing is reachable.
    let resp = h.get(lead.p("/clients")).send().await.expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[rstest]
#[case::sqlite(Backend::Sqlite)]
#[case::postgres(Backend::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crm_export_imports_after_the_lead_confirms_its_columns(#[case] backend: Backend) {
    let Some(lead) = Lead::start(backend).await else {
        return;
    };
    let h = &lead.http;
    let crm = "Наименование клиента;Контактное лицо;Комментарий;Статус сделки\n\
               ООО «Ромашка-Плюс»;Анна Петрова;Давний клиент;в работе\n\
               АО «Север»;Олег Смирнов;;закрыта\n";
    // The mapping step: the file's headers with the field guessed for each.
    let (s, found) = lead
        .send(
            h.post(lead.p("/clients/import/columns?filename=crm.csv"))
                .header("content-type", "text/csv")
                .body(crm),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{found}");
    let guesses: Vec<(&str, Option<&str>)> = found["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| (c["header"].as_str().unwrap_or(""), c["guess"].as_str()))
        .collect();
    assert_eq!(
        guesses,
        [
            ("Наименование клиента", Some("company")),
            ("Контактное лицо", Some("contact_name")),
            ("Комментарий", Some("notes")),
            ("Статус сделки", None),
        ]
    );
    assert_eq!(found["fields"][0], "company");
    let before = lead.companies_until(|n| n >= 1).await.len();

    // A choice that is not JSON, or names no field, is refused and stores nothing.
    for (columns, code) in [
        ("{не json", "columns_invalid"),
        (r#"{"Статус сделки":"инн"}"#, "unknown_field"),
    ] {
        let (s, body) = lead
            .send(
                h.post(lead.p("/clients/import"))
                    .query(&[("columns", columns)])
                    .header("content-type", "text/csv")
                    .body(crm),
            )
            .await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{body}"
        );
    }
    assert_eq!(lead.companies_until(|n| n >= 1).await.len(), before);

    // The lead's choice: the deal status as the notes, the comment skipped.
    let (s, report) = lead
        .send(
            h.post(lead.p("/clients/import"))
                .query(&[("columns", r#"{"Комментарий":"","Статус сделки":"notes"}"#)])
                .header("content-type", "text/csv")
                .body(crm),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(
        report["warnings"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );
    let companies = lead.companies_until(|n| n >= before + 2).await;
    assert!(companies.iter().any(|c| c == "АО «Север»"), "{companies:?}");
}
