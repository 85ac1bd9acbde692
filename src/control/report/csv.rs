//! The attendance report as CSV (`GET /api/sessions/{id}/report.csv`): one
//! row per participant, the figures of the JSON report. Fields are quoted
//! per RFC 4180, and a cell a spreadsheet would take for a formula is
//! prefixed with `'` (a student named `=HYPERLINK(…)` stays text).

use std::collections::HashMap;

use super::SessionReport;

const HEADER: [&str; 9] = [
    "Name",
    "Role",
    "Joined at",
    "Left at",
    "Minutes present",
    "Chat messages",
    "Hands raised",
    "Polls answered",
    "Recording consent",
];

/// The report as CSV text (CRLF line ends). `consent` holds each
/// participant's recording consent by id: `Some(true)` agreed,
/// `Some(false)` refused; absent or `None`, not answered.
pub fn attendance_csv(report: &SessionReport, consent: &HashMap<String, Option<bool>>) -> String {
    let mut out = String::new();
    row(&mut out, HEADER);
    for p in &report.participants {
        let consent = match consent.get(&p.participant_id).copied().flatten() {
            Some(true) => "yes",
            Some(false) => "no",
            None => "not answered",
        };
        row(
            &mut out,
            [
                p.name.as_str(),
                p.role.as_str(),
                p.attendance.first_join.as_deref().unwrap_or(""),
                p.attendance.last_leave.as_deref().unwrap_or(""),
                &format!("{:.2}", p.attendance.attendance_minutes),
                &p.engagement.chat_messages.to_string(),
                &p.engagement.hand_raises.to_string(),
                &p.polls_answered.to_string(),
                consent,
            ],
        );
    }
    out
}

fn row<'a>(out: &mut String, cells: impl IntoIterator<Item = &'a str>) {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&field(cell));
    }
    out.push_str("\r\n");
}

/// One field: defused, then quoted when it holds a comma, a quote or a line
/// break (quotes doubled).
fn field(cell: &str) -> String {
    let cell = defused(cell);
    if cell.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell
    }
}

/// A cell starting with what spreadsheets read as a formula (`=`, `+`, `-`,
/// `@`, or a tab or carriage return before one) gets a leading `'`.
fn defused(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::report::{Attendance, Engagement, ParticipantReport, ReportTotals};

    fn person(id: &str, name: &str, role: &str, present: bool) -> ParticipantReport {
        ParticipantReport {
            participant_id: id.into(),
            name: name.into(),
            role: role.into(),
            attendance: Attendance {
                attendance_minutes: 12.5,
                joins: 1,
                first_join: Some("2026-12-01T09:00:00.000Z".into()),
                last_leave: (!present).then(|| "2026-12-01T09:12:30.000Z".into()),
                present,
            },
            engagement: Engagement {
                chat_messages: 3,
                reactions: 1,
                hand_raises: 2,
            },
            polls_answered: 1,
        }
    }

    fn report(participants: Vec<ParticipantReport>) -> SessionReport {
        SessionReport {
            session_id: "s1".into(),
            generated_at: "2026-12-01T10:00:00.000Z".into(),
            participants,
            totals: ReportTotals {
                participants: 0,
                engagement: Engagement::default(),
                polls: vec![],
                poll_participation: 0.0,
            },
        }
    }

    #[test]
    fn one_row_per_participant_after_the_header() {
        let consent = HashMap::from([("bob".to_owned(), Some(true)), ("gina".into(), Some(false))]);
        let csv = attendance_csv(
            &report(vec![
                person("alice", "Alice", "instructor", true),
                person("bob", "Bob", "student", false),
                person("gina", "Gina", "guest", false),
            ]),
            &consent,
        );
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "Name,Role,Joined at,Left at,Minutes present,Chat messages,Hands raised,\
             Polls answered,Recording consent"
        );
        assert_eq!(
            lines[1],
            "Alice,instructor,2026-12-01T09:00:00.000Z,,12.50,3,2,1,not answered"
        );
        assert_eq!(
            lines[2],
            "Bob,student,2026-12-01T09:00:00.000Z,2026-12-01T09:12:30.000Z,12.50,3,2,1,yes"
        );
        assert!(lines[3].ends_with(",no"));
        assert_eq!(lines[4], "", "ends with CRLF");
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn fields_are_quoted_per_rfc_4180() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("Smith, Ann"), "\"Smith, Ann\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("cr\rhere"), "\"cr\rhere\"");
        assert_eq!(field(""), "");
        assert_eq!(field("Zoë 李"), "Zoë 李");
    }

    #[test]
    fn formulas_are_defused() {
        assert_eq!(field("=1+1"), "'=1+1");
        assert_eq!(field("+33 6"), "'+33 6");
        assert_eq!(field("-2"), "'-2");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field("\t=cmd"), "'\t=cmd");
        // Defused first, then quoted as a whole.
        assert_eq!(
            field("=HYPERLINK(\"http://x\",\"y\")"),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""
        );
        assert_eq!(field("a=b"), "a=b");
        let csv = attendance_csv(
            &report(vec![person("m", "=cmd|' /C calc'!A0", "student", true)]),
            &HashMap::new(),
        );
        assert!(csv.contains("\r\n'=cmd|' /C calc'!A0,student,"), "{csv}");
    }
}
