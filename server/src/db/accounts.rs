//! Lead accounts, their sessions, and failed sign-ins.

use sqlx::Row;

use super::{Db, LeadRow};
use crate::error::{HttpError, HttpResult};

impl Db {
    /// Stores a new lead; `Err` with code `lead_exists` when the e-mail is taken.
    pub async fn insert_lead(&self, lead: &LeadRow, now_ms: i64) -> HttpResult<()> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO leads (id, email, name, password_hash, actor, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING",
        )
        .bind(&lead.id)
        .bind(&lead.email)
        .bind(&lead.name)
        .bind(&lead.password_hash)
        .bind(&lead.actor)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(HttpError::invalid(
                "lead_exists",
                format!("a lead with the e-mail {} exists already", lead.email),
            ));
        }
        // A lead authors every programme's documents.
        super::devices::bump_authors(&mut tx, "").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets a lead's password hash and ends the lead's sessions; false when there is
    /// no such lead.
    pub async fn set_password(&self, email: &str, password_hash: &str) -> HttpResult<bool> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("UPDATE leads SET password_hash = $1 WHERE email = $2")
            .bind(password_hash)
            .bind(email)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "DELETE FROM sessions WHERE lead_id IN (SELECT id FROM leads WHERE email = $1)",
        )
        .bind(email)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// How many leads exist.
    pub async fn count_leads(&self) -> HttpResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM leads")
            .fetch_one(&self.pool)
            .await?)
    }

    /// The lead with this e-mail.
    pub async fn lead_by_email(&self, email: &str) -> HttpResult<Option<LeadRow>> {
        self.lead_where("email = $1", email).await
    }

    /// The lead with this id.
    pub async fn lead_by_id(&self, id: &str) -> HttpResult<Option<LeadRow>> {
        self.lead_where("id = $1", id).await
    }

    async fn lead_where(&self, condition: &str, value: &str) -> HttpResult<Option<LeadRow>> {
        let sql =
            format!("SELECT id, email, name, password_hash, actor FROM leads WHERE {condition}");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(LeadRow {
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                name: r.try_get("name")?,
                password_hash: r.try_get("password_hash")?,
                actor: r.try_get("actor")?,
            })
        })
        .transpose()
    }

    /// Failed sign-ins of `email` in the window that started after `since_ms`.
    pub async fn sign_in_failures(&self, email: &str, since_ms: i64) -> HttpResult<i64> {
        let n: Option<i64> = sqlx::query_scalar(
            "SELECT failures FROM sign_in_failures WHERE email = $1 AND window_start > $2",
        )
        .bind(email)
        .bind(since_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(n.unwrap_or(0))
    }

    /// Counts a failed sign-in; a window older than `since_ms` starts over.
    pub async fn record_sign_in_failure(
        &self,
        email: &str,
        now_ms: i64,
        since_ms: i64,
    ) -> HttpResult<()> {
        sqlx::query(
            "INSERT INTO sign_in_failures (email, window_start, failures) VALUES ($1, $2, 1)
             ON CONFLICT (email) DO UPDATE SET
                 failures = CASE WHEN sign_in_failures.window_start > $3
                                 THEN sign_in_failures.failures + 1 ELSE 1 END,
                 window_start = CASE WHEN sign_in_failures.window_start > $3
                                     THEN sign_in_failures.window_start ELSE $2 END",
        )
        .bind(email)
        .bind(now_ms)
        .bind(since_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets failed sign-ins after a successful one.
    pub async fn clear_sign_in_failures(&self, email: &str) -> HttpResult<()> {
        sqlx::query("DELETE FROM sign_in_failures WHERE email = $1")
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a session.
    pub async fn insert_session(
        &self,
        token_hash: &str,
        lead_id: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> HttpResult<()> {
        // Expired sessions are of no use; sign-ins are rare enough to sweep them here.
        sqlx::query("DELETE FROM sessions WHERE expires_ms <= $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, lead_id, created_ms, expires_ms)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(lead_id)
        .bind(now_ms)
        .bind(expires_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The lead of a live session: `(lead, stored token hash)`.
    pub async fn session(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> HttpResult<Option<(LeadRow, String)>> {
        let row = sqlx::query(
            "SELECT s.token_hash, l.id, l.email, l.name, l.password_hash, l.actor
             FROM sessions s JOIN leads l ON l.id = s.lead_id
             WHERE s.token_hash = $1 AND s.expires_ms > $2",
        )
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok((
                LeadRow {
                    id: r.try_get("id")?,
                    email: r.try_get("email")?,
                    name: r.try_get("name")?,
                    password_hash: r.try_get("password_hash")?,
                    actor: r.try_get("actor")?,
                },
                r.try_get("token_hash")?,
            ))
        })
        .transpose()
    }

    /// Ends a session (and any expired ones).
    pub async fn delete_session(&self, token_hash: &str, now_ms: i64) -> HttpResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1 OR expires_ms <= $2")
            .bind(token_hash)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
