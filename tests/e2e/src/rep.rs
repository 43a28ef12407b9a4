//! The rep's pages as a person uses them, shared by the app's tests and the web app's:
//! a whole visit typed in Russian, keystrokes timed to "saved", and the figures the
//! tests print.

use fantoccini::{Client, Locator};
use rapport_domain::DocId;

use crate::{
    WAIT, click, screenshot_dir, tap, type_into, wait_attr, wait_for, wait_gone, wait_text,
};

/// A question's container on the questionnaire page.
pub fn question(id: &str) -> String {
    format!("[data-testid=question][data-question-id='{id}']")
}

/// Waits until the bar says the last edit is saved on this device.
pub async fn saved(c: &Client) {
    wait_attr(c, "[data-testid=save-state]", "data-state", WAIT, |s| {
        s == "saved"
    })
    .await;
}

/// Starts noting every height the top bar takes, every place its "sync now" button
/// takes, and every state its save and sync pills pass through, for [`top_bar_seen`].
pub async fn watch_top_bar(c: &Client) {
    crate::js(
        c,
        r#"
        const bar = document.querySelector('.topbar');
        const seen = {heights: new Set(), save: new Set(), sync: new Set(), button: new Set()};
        const note = () => {
          seen.heights.add(Math.round(bar.getBoundingClientRect().height));
          const button = document.querySelector('[data-testid=sync-now]');
          if (button) { seen.button.add(Math.round(button.getBoundingClientRect().left)); }
          for (const [key, id] of [['save', 'save-state'], ['sync', 'sync-state']]) {
            const pill = document.querySelector(`[data-testid=${id}]`);
            if (pill) { seen[key].add(pill.dataset.state); }
          }
        };
        note();
        new ResizeObserver(note).observe(bar);
        new MutationObserver(note).observe(bar, {subtree: true, childList: true, attributes: true, characterData: true});
        window.rapportTopBar = seen;
        return true;
        "#,
    )
    .await;
}

/// What [`watch_top_bar`] saw.
#[derive(Debug)]
pub struct TopBarSeen {
    /// The bar's heights (px).
    pub heights: Vec<u64>,
    /// The left edges of its "sync now" button (px).
    pub button_lefts: Vec<u64>,
    /// The save pill's states.
    pub saves: Vec<String>,
    /// The sync pill's states.
    pub syncs: Vec<String>,
}

/// What [`watch_top_bar`] saw so far.
pub async fn top_bar_seen(c: &Client) -> TopBarSeen {
    let seen = crate::js(
        c,
        "const s = window.rapportTopBar;
         return [Array.from(s.heights), Array.from(s.button), Array.from(s.save), Array.from(s.sync)];",
    )
    .await;
    let numbers = |v: &serde_json::Value| -> Vec<u64> {
        v.as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
            .unwrap_or_default()
    };
    TopBarSeen {
        heights: numbers(&seen[0]),
        button_lefts: numbers(&seen[1]),
        saves: crate::strings(&seen[2]),
        syncs: crate::strings(&seen[3]),
    }
}

/// The visit id from the questionnaire's address.
pub async fn visit_id(c: &Client) -> DocId {
    let url = c.current_url().await.expect("url");
    let id = url
        .path()
        .trim_start_matches("/rep/visit/")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    id.parse().unwrap_or_else(|_| panic!("a visit id in {url}"))
}

/// Types into every text answer, answers every kind of question, adds a contact, a
/// referral and an opportunity: a whole visit, in Russian.
pub async fn fill_whole_visit(c: &Client) -> Vec<(String, String)> {
    let mut texts = Vec::new();
    let questions = c
        .find_all(Locator::Css("[data-testid=question]"))
        .await
        .expect("questions");
    assert!(
        questions.len() >= 20,
        "the seed questionnaire is on the page"
    );
    for (n, q) in questions.iter().enumerate() {
        let id = q
            .attr("data-question-id")
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        if let Ok(area) = q.find(Locator::Css("[data-testid=answer-text]")).await {
            let text = format!("Ответ №{n}: клиент доволен, ждёт предложения «Облако»");
            area.send_keys(&text).await.expect("typing");
            texts.push((id, text));
            continue;
        }
        if let Ok(yes) = q.find(Locator::Css("[data-testid=answer-yes]")).await {
            tap(c, &yes, "answer-yes").await;
            continue;
        }
        if let Ok(number) = q.find(Locator::Css("[data-testid=answer-number]")).await {
            number.send_keys("3").await.expect("number");
            continue;
        }
        if let Ok(date) = q.find(Locator::Css("[data-testid=answer-date]")).await {
            // Typed as a Russian rep writes a date, whatever the browser's locale: a day
            // that does not exist is refused with a message, the real one is kept.
            const TAB: &str = "\u{E004}";
            date.send_keys(&format!("31.02.2026{TAB}"))
                .await
                .expect("date");
            let refusal = wait_for(c, "[data-testid=date-invalid]").await;
            let message = refusal.text().await.unwrap_or_default();
            assert!(
                message.contains("дд.мм.гггг"),
                "the refusal says how: {message:?}"
            );
            date.clear().await.expect("clear the date");
            date.send_keys(&format!("20.11.2026{TAB}"))
                .await
                .expect("date");
            wait_gone(c, "[data-testid=date-invalid]").await;
            assert_eq!(
                date.prop("value").await.ok().flatten().as_deref(),
                Some("20.11.2026")
            );
            continue;
        }
        if let Ok(choice) = q.find(Locator::Css("[data-testid=answer-choice]")).await {
            tap(c, &choice, "answer-choice").await;
            continue;
        }
        if let Ok(target) = q.find(Locator::Css("[data-testid=quality-target]")).await {
            target.clear().await.expect("clear");
            target.send_keys("100").await.expect("target");
            let actual = q
                .find(Locator::Css("[data-testid=quality-actual]"))
                .await
                .expect("actual");
            actual.clear().await.expect("clear");
            actual.send_keys("95").await.expect("actual");
            q.find(Locator::Css("[data-testid=quality-note]"))
                .await
                .expect("note")
                .send_keys("Замер при клиенте, Speedtest")
                .await
                .expect("note");
            let save = q
                .find(Locator::Css("[data-testid=quality-save]"))
                .await
                .expect("save");
            tap(c, &save, "quality-save").await;
            continue;
        }
    }
    saved(c).await;

    click(c, "[data-testid=contact-add]").await;
    type_into(c, "[data-testid=contact-name]", "Анна Сергеевна Петрова").await;
    type_into(c, "[data-testid=contact-role]", "Финансовый директор").await;
    type_into(c, "[data-testid=contact-phone]", "+7 495 123-45-67").await;
    type_into(c, "[data-testid=contact-email]", "anna@romashka.ru").await;
    click(c, "[data-testid=contact-save]").await;
    wait_text(c, "[data-testid=contact-row]", "Анна Сергеевна Петрова").await;

    click(c, "[data-testid=referral-add]").await;
    type_into(c, "[data-testid=referral-name]", "Игорь Ёлкин").await;
    type_into(c, "[data-testid=referral-company]", "ООО «Ёлка»").await;
    type_into(c, "[data-testid=referral-contact]", "+7 916 000-11-22").await;
    click(c, "[data-testid=referral-save]").await;
    wait_text(c, "[data-testid=referral-row]", "Ёлка").await;

    click(c, "[data-testid=opportunity-add]").await;
    type_into(
        c,
        "[data-testid=opportunity-description]",
        "Второй канал связи для филиала",
    )
    .await;
    type_into(c, "[data-testid=opportunity-product]", "Резервный канал").await;
    type_into(c, "[data-testid=opportunity-value]", "120000").await;
    click(c, "[data-testid=opportunity-save]").await;
    wait_text(c, "[data-testid=opportunity-row]", "Второй канал").await;
    saved(c).await;
    texts
}

/// Types `count` characters one by one into the text answer `css`, waiting each time
/// for "saved on this device"; the page measures each keystroke-to-saved time.
pub async fn keystroke_latencies(c: &Client, css: &str, count: usize) -> Vec<f64> {
    let area = wait_for(c, css).await;
    let mut latencies = Vec::new();
    for ch in "Быстрый ввод: проверяем задержку сохранения на планшете"
        .chars()
        .cycle()
        .take(count)
    {
        // data-save-seq counts the saves the bar has seen: wait for this keystroke's.
        // No pill yet (nothing saved since the page opened) counts as none.
        let before: u64 = crate::js(
            c,
            "const pill = document.querySelector('[data-testid=save-state]');
             return pill ? (pill.dataset.saveSeq || '0') : '0';",
        )
        .await
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("a count");
        area.send_keys(&ch.to_string()).await.expect("a keystroke");
        wait_attr(c, "[data-testid=save-state]", "data-save-seq", WAIT, |v| {
            v.parse::<u64>().is_ok_and(|n| n > before)
        })
        .await;
        saved(c).await;
        let ms = wait_attr(
            c,
            "[data-testid=save-state]",
            "data-latency-ms",
            WAIT,
            |v| v.parse::<f64>().is_ok(),
        )
        .await;
        latencies.push(ms.parse().expect("a number"));
    }
    latencies
}

/// Keystroke-to-saved latencies (ms, as the page measures them) of `count` Cyrillic
/// characters typed into the text answer at `css` by a script in the page: each one an
/// `input` event, the next sent once the bar shows this one saved. Unlike
/// [`keystroke_latencies`], nothing outside the page runs meanwhile (no WebDriver call
/// per keystroke, whose traffic through chromedriver and the browser competes with the
/// store's writes on a small machine): the same conditions as the anchor, a bare
/// IndexedDB write measured by a script in the same page.
pub async fn typed_in_page_latencies(c: &Client, css: &str, count: usize) -> Vec<f64> {
    let area = wait_for(c, css).await;
    c.execute_async(
        "const [area, count, done] = arguments;
         const text = 'Быстрый ввод: проверяем задержку сохранения на планшете';
         const pill = () => document.querySelector('[data-testid=save-state]');
         const seq = () => Number(pill()?.dataset.saveSeq || '0');
         // Resolves once the bar has seen a save after `before` and shows it saved
         // (a failed save stops the run: the test then finds fewer latencies).
         const savedAfter = (before) => new Promise((ok, fail) => {
           const check = () => {
             const p = pill();
             if (p && seq() > before && p.dataset.state !== 'saving') {
               observer.disconnect();
               clearTimeout(limit);
               p.dataset.state === 'saved' ? ok(Number(p.dataset.latencyMs)) : fail(p.dataset.state);
             }
           };
           const observer = new MutationObserver(check);
           observer.observe(document.body, {subtree: true, childList: true, attributes: true,
             attributeFilter: ['data-save-seq', 'data-state', 'data-latency-ms']});
           const limit = setTimeout(() => { observer.disconnect(); fail('timeout'); }, 10000);
           check();
         });
         (async () => {
           const out = [];
           try {
             for (let i = 0; i < count; i++) {
               const ch = text[i % text.length];
               const before = seq();
               area.value += ch;
               area.dispatchEvent(new InputEvent('input', {bubbles: true, data: ch, inputType: 'insertText'}));
               out.push(await savedAfter(before));
             }
           } catch (e) {}
           done(out);
         })();",
        vec![
            serde_json::to_value(&area).expect("element"),
            serde_json::json!(count),
        ],
    )
    .await
    .expect("the page typed")
    .as_array()
    .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
    .unwrap_or_default()
}

/// The `p` quantile (0–1) of `values` (sorted in place), nearest rank.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let idx = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[idx]
}

/// Prints a figure as `name=value` and keeps the latest of each in `figures.txt` beside
/// the screenshots.
pub fn figure(name: &str, value: f64) {
    println!("{name}={value:.1}");
    let path = screenshot_dir().join("figures.txt");
    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with(&format!("{name}=")))
        .map(str::to_owned)
        .collect();
    lines.push(format!("{name}={value:.1}"));
    std::fs::write(path, lines.join("\n") + "\n").expect("figures written");
}

/// The link the lead's devices page shows (and draws as a QR code) for a pairing code:
/// the rep's pairing page with the server's address and the code in the fragment.
pub fn pairing_link(server: &str, code: &str) -> String {
    let encoded = server
        .replace('%', "%25")
        .replace(':', "%3A")
        .replace('/', "%2F");
    format!("{server}/rep/pair#server={encoded}&code={code}")
}

/// Pairs the page's device on the rep's pairing page of `server` with `code`; waits
/// until the first sync (after pairing, by itself) has brought the client `company`.
pub async fn pair_in_browser(c: &Client, server: &str, code: &str, company: &str) {
    c.goto(&format!("{server}/rep/pair"))
        .await
        .expect("pairing page");
    crate::fill(c, "[data-testid=pair-server]", server).await;
    crate::fill(c, "[data-testid=pair-code]", code).await;
    click(c, "[data-testid=pair-submit]").await;
    wait_text(c, ".rep-client-list", company).await;
}

/// Types a wrong code on the pairing page (open in `c`) and checks the refusal: said
/// in Russian, and nothing paired.
pub async fn a_wrong_code_is_refused_in_russian(c: &Client, server: &str) {
    crate::fill(c, "[data-testid=pair-server]", server).await;
    crate::fill(c, "[data-testid=pair-code]", "НЕВЕРНЫЙ-КОД").await;
    click(c, "[data-testid=pair-submit]").await;
    let refusal = wait_for(c, "[data-testid=error]")
        .await
        .text()
        .await
        .expect("text");
    assert!(
        refusal.chars().any(|ch| ('а'..='я').contains(&ch)),
        "the refusal is in Russian: {refusal:?}"
    );
}

/// The lead's programme status (the dashboard's numbers), through the lead's API.
pub async fn lead_status(
    ts: &rapport_testkit::TestServer,
    lead: &rapport_testkit::TestLead,
    programme: DocId,
) -> serde_json::Value {
    lead_get(ts, lead, &format!("/api/v1/programmes/{programme}/status")).await
}

/// The programme's client list, through the lead's API.
pub async fn lead_clients(
    ts: &rapport_testkit::TestServer,
    lead: &rapport_testkit::TestLead,
    programme: DocId,
) -> serde_json::Value {
    lead_get(ts, lead, &format!("/api/v1/programmes/{programme}/clients")).await
}

/// `GET path` as the lead; the answer must be 200.
async fn lead_get(
    ts: &rapport_testkit::TestServer,
    lead: &rapport_testkit::TestLead,
    path: &str,
) -> serde_json::Value {
    let (code, body) = ts
        .call(reqwest::Method::GET, path, Some(&lead.token), None)
        .await;
    assert_eq!(code, 200, "GET {path}: {body}");
    body
}
