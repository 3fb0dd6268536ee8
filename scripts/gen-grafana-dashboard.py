#!/usr/bin/env python3
"""Writes monitoring/grafana/pwgate.json, the Grafana dashboard over pwgate's
metrics (README: "Metrics and health", "Dashboard and alerts"). Edit the
panels here and run it from the repository's root:

    scripts/gen-grafana-dashboard.py

tests/metrics.rs checks that every metric the dashboard names is served.
"""
import json
I='instance=~"$instance"'
def sel(extra=''):
    return '{'+I+(','+extra if extra else '')+'}'
ALL=sel(); REF=sel('verdict="refused"'); WOULD=sel('verdict="would_refuse"'); NOTOK=sel('result!="success"')
R='[$__rate_interval]'
panels=[]
st={'x':0,'y':0,'id':1}
def row(title):
    panels.append({"type":"row","title":title,"id":st['id'],"collapsed":False,
                   "gridPos":{"h":1,"w":24,"x":0,"y":st['y']},"panels":[]})
    st['id']+=1; st['y']+=1; st['x']=0
def panel(title, desc, targets, kind="timeseries", unit="ops", w=8, h=8, extra=None):
    if st['x']+w>24:
        st['x']=0; st['y']+=h
    ds={"type":"prometheus","uid":"${datasource}"}
    p={"type":kind,"title":title,"description":desc,"id":st['id'],"datasource":ds,
       "gridPos":{"h":h,"w":w,"x":st['x'],"y":st['y']},
       "fieldConfig":{"defaults":{"unit":unit},"overrides":[]},"options":{},
       "targets":[{"refId":chr(65+i),"expr":e,"legendFormat":l,"datasource":ds} for i,(e,l) in enumerate(targets)]}
    if kind=="timeseries":
        p["options"]={"legend":{"displayMode":"table","placement":"bottom","calcs":["mean","max"]},"tooltip":{"mode":"multi"}}
    if kind=="stat":
        p["options"]={"reduceOptions":{"calcs":["lastNotNull"],"fields":"","values":False},"colorMode":"background","graphMode":"none"}
    if extra: p["fieldConfig"]["defaults"].update(extra)
    panels.append(p); st['id']+=1; st['x']+=w
def endrow(h=8):
    st['x']=0; st['y']+=h
D='pwgate_password_decisions_total'  # one sample per failed rule
V='pwgate_password_verdicts_total'   # one per decision
row("Password decisions")
panel("Decisions by verdict","Password decisions at every door: accepted, refused, and would_refuse (a scope in audit mode: logged, not blocked).",
      [(f'sum by (verdict) (rate({V}{ALL}{R}))','{{verdict}}')])
panel("Refusals by rule","Which rule refused the change (a change failing two rules counts under both).",
      [(f'sum by (rule) (rate({D}{REF}{R}))','{{rule}}')])
panel("Decisions by scope","Accepted and refused changes per policy scope (default is the global policy).",
      [(f'sum by (scope, verdict) (rate({V}{ALL}{R}))','{{scope}} {{verdict}}')])
endrow()
panel("Audit mode: would refuse, by scope and rule","What an audit-mode scope would have refused if it enforced: read this before switching a scope to enforce.",
      [(f'sum by (scope, rule) (rate({D}{WOULD}{R}))','{{scope}} {{rule}}')])
panel("Decisions by door","Where changes come from: ldap (the proxy), samba_hook, api (the decision service), windows_filter.",
      [(f'sum by (door) (rate({V}{ALL}{R}))','{{door}}')])
panel("Directory answers after pwgate accepted","What the directory answered to the password operations pwgate forwarded: anything but success is the directory's own rules (history, age) or an error.",
      [(f'sum by (result) (rate(pwgate_directory_answers_total{ALL}{R}))','{{result}}')])
endrow()
panel("Checks (decision service, nothing set)","Portals asking before they submit (/v1/check): counted apart from decisions.",
      [(f'sum by (verdict) (rate(pwgate_password_check_verdicts_total{ALL}{R}))','{{verdict}}')])
panel("Share refused","Refused decisions over all decisions, over the time range.",
      [(f'sum(increase({V}{REF}[$__range])) / sum(increase({V}{ALL}[$__range]))','refused')],
      kind="stat", unit="percentunit")
panel("Directory refused after acceptance","Share of forwarded password operations the directory did not answer with success, over the time range.",
      [(f'sum(increase(pwgate_directory_answers_total{NOTOK}[$__range])) / sum(increase(pwgate_directory_answers_total{ALL}[$__range]))','not success')],
      kind="stat", unit="percentunit")
endrow()
row("Directory (upstream)")
panel("Upstream up","1 when the last connection attempt to that directory URL succeeded (client connections and /readyz probes).",
      [(f'pwgate_upstream_up{ALL}','{{instance}} {{upstream}}')], unit="none", extra={"min":0,"max":1})
panel("Connections by upstream (failover)","New directory connections per URL: traffic moving to a later URL is a failover.",
      [(f'sum by (upstream) (rate(pwgate_upstream_connect_seconds_count{ALL}{R}))','{{upstream}}')])
panel("Connect errors and p99 connect time","Failed connection attempts per URL, and the 99th percentile time to connect (TLS included).",
      [(f'sum by (upstream) (rate(pwgate_upstream_connect_errors_total{ALL}{R}))','errors/s {{upstream}}'),
       (f'histogram_quantile(0.99, sum by (le, upstream) (rate(pwgate_upstream_connect_seconds_bucket{ALL}{R})))','p99 s {{upstream}}')], unit="short")
endrow()
row("Clients and traffic")
panel("Open connections","Client connections open now.",[(f'sum by (instance) (pwgate_connections_open{ALL})','{{instance}}')], unit="none")
panel("Connections accepted and refused","Refused: over the connection limit.",
      [(f'sum(rate(pwgate_connections_total{ALL}{R}))','accepted'),(f'sum(rate(pwgate_connections_refused_total{ALL}{R}))','refused')])
panel("Requests forwarded, by operation","LDAP messages passed through to the directory.",
      [(f'sum by (op) (rate(pwgate_forwarded_requests_total{ALL}{R}))','{{op}}')])
endrow()
row("Password sync")
panel("Sync queue depth","Accepted changes waiting for each sync target.",[(f'pwgate_sync_queue_depth{ALL}','{{instance}} {{target}}')], unit="none")
panel("Sync outcomes","synced, retried, failed, not_found, abandoned, per target.",
      [(f'sum by (target, outcome) (rate(pwgate_sync_outcomes_total{ALL}{R}))','{{target}} {{outcome}}')])
panel("Sync latency","Mean time from the primary's acceptance to the target's.",
      [(f'sum by (target) (rate(pwgate_sync_latency_seconds_sum{ALL}{R})) / sum by (target) (rate(pwgate_sync_latency_seconds_count{ALL}{R}))','{{target}}')], unit="s")
endrow()
row("Health")
panel("Breached store","up: the configured breached-password store answers on every selected instance that has one; DOWN: on one of them it is missing, unreadable or failed its checksum (changes are refused unless on_store_error = allow).",
      [(f'min((pwgate_breached_store_up{ALL} + pwgate_breached_store_configured{ALL}) and on (instance) (pwgate_breached_store_configured{ALL} == 1))','store')],
      kind="stat", unit="none", w=6,
      extra={"noValue":"not configured","mappings":[{"type":"value","options":{"2":{"text":"up","color":"green","index":0},"1":{"text":"DOWN","color":"red","index":1}}}]})
panel("Breached lookup errors","Checks the store could not answer, over the time range.",
      [(f'sum(increase(pwgate_breached_lookup_errors_total{ALL}[$__range]))','errors')], kind="stat", unit="none", w=6,
      extra={"thresholds":{"mode":"absolute","steps":[{"color":"green","value":None},{"color":"red","value":1}]}})
panel("Audit write errors","Audit records that could not be written, over the time range: the audit trail has gaps.",
      [(f'sum(increase(pwgate_audit_write_errors_total{ALL}[$__range]))','errors')], kind="stat", unit="none", w=6,
      extra={"thresholds":{"mode":"absolute","steps":[{"color":"green","value":None},{"color":"red","value":1}]}})
panel("Last reload","ok: the last SIGHUP reload was taken (or none was asked for); REFUSED: the running configuration is older than the file.",
      [(f'min(pwgate_config_last_reload_successful{ALL})','last reload')],
      kind="stat", unit="none", w=6,
      extra={"mappings":[{"type":"value","options":{"1":{"text":"ok","color":"green","index":0},"0":{"text":"REFUSED","color":"red","index":1}}}]})
endrow()
panel("Reloads","Configuration reloads by result.",
      [(f'sum by (result) (increase(pwgate_config_reloads_total{ALL}{R}))','{{result}}')], unit="none", w=24)
dash={
 "title":"pwgate","uid":"pwgate-overview","tags":["pwgate","ldap","passwords"],
 "description":"pwgate: password decisions, the directory behind it, sync, and health. The metrics: README, \"Metrics and health\".",
 "editable":True,"schemaVersion":38,"version":1,"refresh":"30s","time":{"from":"now-6h","to":"now"},
 "timezone":"","graphTooltip":1,
 "templating":{"list":[
   {"name":"datasource","type":"datasource","query":"prometheus","label":"Data source","current":{},"hide":0},
   {"name":"instance","type":"query","label":"Instance","datasource":{"type":"prometheus","uid":"${datasource}"},
    "query":{"query":"label_values(pwgate_connections_open, instance)","refId":"instances"},
    "definition":"label_values(pwgate_connections_open, instance)","includeAll":True,"multi":True,"allValue":".*",
    "current":{"text":"All","value":"$__all"},"refresh":2,"sort":1,"hide":0}]},
 "annotations":{"list":[]},
 "panels":panels}
open('monitoring/grafana/pwgate.json','w').write(json.dumps(dash,indent=2)+"\n")
print(len(panels))
