"""Statements per command from sqlx's log (scripts/profile/run sqlite LABEL statements):
python3 statements.py target/profile/LABEL"""
import json,sys,re,collections,datetime
d=sys.argv[1]
w=dict(kv.split('=') for kv in open(d+'/window.txt').read().split())
t1,t2,cmds=float(w['t1']),float(w['t2']),int(w['cmds'])
c=collections.Counter(); el=collections.Counter()
for line in open(d+'/server.log'):
    try: j=json.loads(line)
    except: continue
    if j.get('target')!='sqlx::query': continue
    ts=datetime.datetime.fromisoformat(j['timestamp'].replace('Z','+00:00')).timestamp()
    if not (t1<=ts<=t2): continue
    s=re.sub(r'\s+',' ',j['fields']['db.statement'] or j['fields']['summary']).strip()
    c[s]+=1; el[s]+=j['fields'].get('elapsed_secs',0)
tot=sum(c.values())
print(f'commands {cmds}, statements {tot}, per command {tot/cmds:.2f}, statement time {sum(el.values()):.2f}s in {t2-t1:.1f}s window')
for s,n in c.most_common(40):
    print(f'{n/cmds:6.3f}/cmd  {1000*el[s]/n:7.3f}ms  {s[:150]}')
