//! `stats uri`: the status page, as HTML or (`;csv`) in HAProxy's CSV
//! layout, whose column names monitoring tools read.

use crate::http1::{self, Framing, RequestHead, ResponseHead};
use crate::runtime::Shared;
use crate::status::ProxyStatus;
use http::header::{HeaderValue, CACHE_CONTROL, CONNECTION, CONTENT_TYPE};
use http::{HeaderMap, StatusCode, Version};
use std::fmt::Write;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// HAProxy 2.6's CSV columns (stats.c, stat_fields), in order.
const COLUMNS: &str = "pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_check_status";

/// Answer a request for the stats page; returns the status and the bytes
/// written.
pub async fn serve<W: AsyncWrite + Unpin>(
    shared: &Shared,
    wr: &mut W,
    head: &RequestHead,
    uri: &str,
    limit: Option<Duration>,
) -> (u16, u64) {
    let status = shared.status();
    let csv = head.target[uri.len()..].starts_with(";csv");
    let (body, ctype) = if csv {
        (csv_text(&status), "text/plain")
    } else {
        (html(&status), "text/html")
    };
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // HAProxy's stats applet answers in HTTP/1.1 whatever the request.
    let request_is_11 = head.version == Version::HTTP_11;
    if let Some(v) = http1::connection_header(head.keep_alive, request_is_11, true) {
        headers.insert(CONNECTION, HeaderValue::from_static(v));
    }
    let resp = ResponseHead {
        status: StatusCode::OK,
        version: Version::HTTP_11,
        headers,
        framing: Framing::Length(body.len() as u64),
        reason: None,
    };
    let mut out = Vec::with_capacity(body.len() + 256);
    http1::write_response_head(&resp, &mut out);
    if head.method != http::Method::HEAD {
        out.extend_from_slice(body.as_bytes());
    }
    let ok = super::server::bounded(limit, wr.write_all(&out)).await;
    let n = if matches!(ok, Some(Ok(()))) {
        out.len() as u64
    } else {
        0
    };
    (200, n)
}

/// One CSV line per frontend (`FRONTEND`), server, and backend
/// (`BACKEND`), as HAProxy orders them.
pub fn csv_text(s: &ProxyStatus) -> String {
    let n = COLUMNS.split(',').count();
    let mut o = format!("# {COLUMNS}\n");
    let mut row = |fields: &[(&str, String)]| {
        let mut cells = vec![String::new(); n];
        for (name, v) in fields {
            if let Some(i) = COLUMNS.split(',').position(|c| c == *name) {
                cells[i] = v.clone();
            }
        }
        o.push_str(&cells.join(","));
        o.push_str(",\n");
    };
    let hrsp = |c: &crate::counters::CounterValues| -> Vec<(&'static str, String)> {
        [
            "hrsp_1xx",
            "hrsp_2xx",
            "hrsp_3xx",
            "hrsp_4xx",
            "hrsp_5xx",
            "hrsp_other",
        ]
        .iter()
        .zip(c.http_responses)
        .map(|(k, v)| (*k, v.to_string()))
        .collect()
    };
    for (iid, f) in s.frontends.iter().enumerate() {
        let c = &f.counters;
        let mut fields = vec![
            ("pxname", f.name.clone()),
            ("svname", "FRONTEND".into()),
            ("scur", c.current.to_string()),
            ("smax", c.max.to_string()),
            ("slim", f.maxconn.to_string()),
            ("stot", c.total.to_string()),
            ("bin", c.bytes_in.to_string()),
            ("bout", c.bytes_out.to_string()),
            ("ereq", c.request_errors.to_string()),
            ("status", "OPEN".into()),
            ("iid", (iid + 1).to_string()),
            ("type", "0".into()),
            ("mode", f.mode.clone()),
            ("conn_tot", c.total.to_string()),
        ];
        fields.extend(hrsp(c));
        row(&fields);
    }
    for (bi, b) in s.backends.iter().enumerate() {
        let iid = s.frontends.len() + bi + 1;
        for (si, sv) in b.servers.iter().enumerate() {
            let c = &sv.counters;
            let status = match sv.status.as_str() {
                "no check" => "no check".to_string(),
                other => other.to_string(),
            };
            let mut fields = vec![
                ("pxname", b.name.clone()),
                ("svname", sv.name.clone()),
                ("qcur", sv.queued.to_string()),
                ("scur", sv.served.to_string()),
                ("smax", c.max.to_string()),
                (
                    "slim",
                    if sv.maxconn > 0 {
                        sv.maxconn.to_string()
                    } else {
                        String::new()
                    },
                ),
                ("stot", c.total.to_string()),
                ("bin", c.bytes_in.to_string()),
                ("bout", c.bytes_out.to_string()),
                ("econ", c.connect_errors.to_string()),
                ("eresp", c.response_errors.to_string()),
                ("wretr", c.retries.to_string()),
                ("wredis", c.redispatches.to_string()),
                ("status", status),
                ("weight", sv.weight.to_string()),
                ("act", u8::from(!sv.backup).to_string()),
                ("bck", u8::from(sv.backup).to_string()),
                ("lastchg", sv.since_secs.to_string()),
                ("iid", iid.to_string()),
                ("sid", (si + 1).to_string()),
                ("type", "2".into()),
                ("lbtot", c.total.to_string()),
                (
                    "check_status",
                    sv.check.split(' ').next().unwrap_or("").to_string(),
                ),
                ("addr", sv.address.clone()),
                ("mode", b.mode.clone()),
                ("uweight", sv.configured_weight.to_string()),
            ];
            fields.extend(hrsp(c));
            row(&fields);
        }
        let c = &b.counters;
        let status = if b.active + b.backups > 0 {
            "UP"
        } else {
            "DOWN"
        };
        let mut fields = vec![
            ("pxname", b.name.clone()),
            ("svname", "BACKEND".into()),
            ("qcur", b.queued.to_string()),
            ("qmax", b.queue_max.to_string()),
            ("scur", c.current.to_string()),
            ("smax", c.max.to_string()),
            ("stot", c.total.to_string()),
            ("bin", c.bytes_in.to_string()),
            ("bout", c.bytes_out.to_string()),
            ("econ", c.connect_errors.to_string()),
            ("eresp", c.response_errors.to_string()),
            ("wretr", c.retries.to_string()),
            ("wredis", c.redispatches.to_string()),
            ("status", status.into()),
            ("act", b.active.to_string()),
            ("bck", b.backups.to_string()),
            ("iid", iid.to_string()),
            ("type", "1".into()),
            ("lbtot", c.total.to_string()),
            ("mode", b.mode.clone()),
            ("algo", b.balance.clone()),
        ];
        fields.extend(hrsp(c));
        row(&fields);
    }
    o
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A plain page in HAProxy's spirit: a table per frontend and backend.
pub fn html(s: &ProxyStatus) -> String {
    let mut o = String::from(
        "<!DOCTYPE html>\n<html><head><title>Statistics Report for xlb</title>\n\
         <style>body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse;margin-bottom:1em}\
         td,th{border:1px solid #999;padding:2px 6px;text-align:right}th{background:#20a0ff;color:#fff}\
         td.n{text-align:left}.UP{background:#c0ffc0}.DOWN{background:#ff9090}.MAINT{background:#c0c0ff}\
         .DRAIN{background:#a0d0ff}</style></head><body>\n<h1>xlb proxy statistics</h1>\n",
    );
    for f in &s.frontends {
        let c = &f.counters;
        let _ = writeln!(
            o,
            "<table><tr><th class=n>{}</th><th>mode</th><th>binds</th><th>cur</th><th>max</th><th>limit</th>\
             <th>total</th><th>bytes in</th><th>bytes out</th><th>req errors</th></tr>\
             <tr><td class=n>Frontend</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr></table>",
            esc(&f.name),
            f.mode,
            esc(&f.binds.join(" ")),
            c.current,
            c.max,
            f.maxconn,
            c.total,
            c.bytes_in,
            c.bytes_out,
            c.request_errors
        );
    }
    for b in &s.backends {
        let _ = writeln!(
            o,
            "<table><tr><th class=n>{}</th><th>status</th><th>last check</th><th>weight</th><th>queue</th>\
             <th>cur</th><th>max</th><th>total</th><th>bytes in</th><th>bytes out</th><th>conn err</th>\
             <th>resp err</th><th>retries</th><th>redisp</th><th>backup</th></tr>",
            esc(&b.name)
        );
        for sv in &b.servers {
            let c = &sv.counters;
            let class = sv.status.split(' ').next().unwrap_or("");
            let _ = writeln!(
                o,
                "<tr class={class}><td class=n>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&sv.name),
                esc(&sv.status),
                esc(&sv.check),
                sv.weight,
                sv.queued,
                sv.served,
                c.max,
                c.total,
                c.bytes_in,
                c.bytes_out,
                c.connect_errors,
                c.response_errors,
                c.retries,
                c.redispatches,
                if sv.backup { "Y" } else { "-" }
            );
        }
        let c = &b.counters;
        let _ = writeln!(
            o,
            "<tr><td class=n><b>Backend</b></td><td>{} active, {} backup</td><td>{}</td><td></td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td></td></tr></table>",
            b.active, b.backups, esc(&b.balance), b.queued, c.current, c.max, c.total, c.bytes_in, c.bytes_out,
            c.connect_errors, c.response_errors, c.retries, c.redispatches
        );
    }
    o.push_str("</body></html>\n");
    o
}
