"""Shares of the server's CPU samples by thread and code path: perf script -F comm,tid,ip,sym -i
target/profile/LABEL/perf.data > S; python3 threads.py S"""
import collections,sys
stacks=[s for s in open(sys.argv[1]).read().split('\n\n') if s.strip()]
n=len(stacks); print('samples',n)
cats=[
 ('sqlx-sqlite worker threads (SQLite itself + channel)', lambda s: 'sqlx_sqlite::connection::worker' in s and 'establish' in s),
 ('  of which inside sqlite3_step', lambda s: 'sqlx_sqlite::connection::worker' in s and 'establish' in s and 'sqlite3_step' in s),
 ('consumer runtime tasks (projections::runtime::drive)', lambda s: 'prconfirm_projections::runtime::drive' in s),
 ('  ReactorConsumer::round', lambda s: 'ReactorConsumer<R> as prconfirm_projections::runtime::consumer::Consumer>::round' in s),
 ('    of which reactor::cores (available_parallelism)', lambda s: 'runtime::reactor::cores' in s),
 ('  ReadModelConsumer::round', lambda s: 'ReadModelConsumer as prconfirm_projections::runtime::consumer::Consumer>::round' in s),
 ('  MailSender round', lambda s: 'MailSender' in s and 'runtime::drive' in s),
 ('  Scheduler (clock) round', lambda s: 'workers::clock' in s and 'runtime::drive' in s),
 ('  ping', lambda s: 'ping' in s and 'runtime::drive' in s),
 ('HTTP requests (hyper/axum task)', lambda s: ('hyper' in s or 'axum' in s) and 'runtime::drive' not in s),
 ('  auth middleware: session look-up', lambda s: 'Accounts>::authenticate' in s or 'accounts::Accounts::authenticate' in s or ('authenticate' in s and 'runtime::drive' not in s)),
 ('  cqrs load_aggregate', lambda s: 'load_aggregate' in s and 'runtime::drive' not in s),
 ('  cqrs commit (chain + persist)', lambda s: 'as cqrs_es::store::EventStore<A>>::commit' in s),
 ('  JSON body / answer (serde_json)', lambda s: 'serde_json' in s and ('hyper' in s or 'axum' in s) and 'runtime::drive' not in s),
 ('rustls (TLS to PostgreSQL)', lambda s: 'rustls' in s),
 ('sqlx-postgres', lambda s: 'sqlx_postgres' in s),
 ('kernel: scheduler switch/wake-up', lambda s: s.split('\n')[1].strip().split(' ',1)[-1] in ('finish_task_switch.isra.0','_raw_spin_unlock_irqrestore','_raw_spin_unlock_irq')),
 ('allocator (mimalloc)', lambda s: '_mi_' in s.split('\n')[1] or 'mi_free' in s.split('\n')[1] or 'mi_theap' in s.split('\n')[1]),
 ('tokio idle/park', lambda s: 'park_internal' in s or 'park_condvar' in s),
]
for name,f in cats:
    c=sum(1 for s in stacks if f(s)); print(f'{100*c/n:6.1f}%  {name}')
