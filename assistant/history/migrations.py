"""The history schema, as a sequence of named sqlite-utils migrations.

Rules for changing the schema:

* never edit a migration that has shipped — add a new one at the end with a new
  name (``NNNN_what_it_does``); ``tests/test_history_migrations.py`` upgrades a
  database from every earlier schema and compares it with a fresh one;
* every migration is transactional: it runs with the record of it having been
  applied in one savepoint, so one that fails halfway leaves nothing behind and
  stays pending (the next start retries it).

:func:`migrate` holds the write lock (``BEGIN IMMEDIATE``) while it decides what
is pending and applies it, so two processes opening a fresh file at once cannot
both try to create the tables.
"""

from __future__ import annotations

from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

from ..errors import HistoryError

MIGRATION_SET = "assistant.history"

migrations = Migrations(MIGRATION_SET)

FTS_TOKENIZER = "unicode61 remove_diacritics 2"
"""Word tokenizer: case- and accent-insensitive; punctuation and emoji separate words."""


@migrations(name="0001_conversations_and_messages")
def create_conversations_and_messages(db: sqlite_utils.Database) -> None:
    # Written as SQL rather than Table.create() for the CHECK constraints and the
    # ON DELETE CASCADE, which sqlite-utils' create() cannot express.
    db.execute(
        """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT,
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            model TEXT,
            backend TEXT,
            template TEXT,
            system TEXT,
            params TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL,
            created TEXT NOT NULL,
            model TEXT,
            backend TEXT,
            template TEXT,
            params TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            ttft_ms REAL,
            tokens_per_second REAL,
            duration_ms REAL,
            status TEXT NOT NULL DEFAULT 'complete'
                CHECK (status IN ('complete', 'interrupted', 'error')),
            error TEXT,
            tool_name TEXT,
            tool_result TEXT
        )
        """
    )
    db.execute("CREATE INDEX messages_by_conversation ON messages (conversation_id, id)")
    db.execute("CREATE INDEX conversations_by_updated ON conversations (updated, id)")


@migrations(name="0002_messages_fts")
def create_messages_fts(db: sqlite_utils.Database) -> None:
    # External-content FTS5 table (no second copy of the text) kept in sync by
    # sqlite-utils' insert/update/delete triggers; existing rows are indexed here.
    db["messages"].enable_fts(["content"], fts_version="FTS5", create_triggers=True, tokenize=FTS_TOKENIZER)


@migrations(name="0003_message_tokens")
def add_message_tokens(db: sqlite_utils.Database) -> None:
    # Per-token numbers of a reply generated with logprobs (JSON list in
    # TokenLogprob.to_dict's shape), so a stored turn reopens with its token view.
    db.execute("ALTER TABLE messages ADD COLUMN tokens TEXT")


@migrations(name="0004_kinds_and_finish_reasons")
def add_kinds_and_finish_reasons(db: sqlite_utils.Database) -> None:
    # A conversation's kind (chat, tool, batch) so `-c` continues a chat, not the
    # last tool run; a reply's finish_reason so one cut at max tokens reopens as such.
    db.execute("ALTER TABLE conversations ADD COLUMN kind TEXT NOT NULL DEFAULT 'chat'")
    db.execute("ALTER TABLE messages ADD COLUMN finish_reason TEXT")
    # Conversations written before: batches had "… batch over FILE" titles, tool
    # runs stored a tool_name on their replies.
    db.execute("UPDATE conversations SET kind = 'batch' WHERE title LIKE '%: batch over %'"
               " OR title LIKE 'batch: % over %'")
    db.execute(
        "UPDATE conversations SET kind = 'tool' WHERE kind = 'chat' AND id IN"
        " (SELECT conversation_id FROM messages WHERE tool_name IS NOT NULL)"
    )


@migrations(name="0005_message_tree")
def add_message_tree(db: sqlite_utils.Database) -> None:
    # A conversation becomes a tree: each message points at the one it follows
    # (NULL: a first message), so a regenerated reply is a second child of its
    # user message and an edited message a second child of the reply before it.
    # conversations.head_id is the active leaf: the branch shown and continued.
    # No REFERENCES clause: a conversation's messages are deleted in one
    # statement, parents and children together, whatever the order.
    db.execute("ALTER TABLE messages ADD COLUMN parent_id INTEGER")
    db.execute("ALTER TABLE conversations ADD COLUMN head_id INTEGER")
    # Everything written before was linear: each message follows the previous
    # one of its conversation, and the newest is the head.
    db.execute(
        "UPDATE messages SET parent_id = (SELECT max(p.id) FROM messages p"
        " WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id)"
    )
    db.execute(
        "UPDATE conversations SET head_id ="
        " (SELECT max(m.id) FROM messages m WHERE m.conversation_id = conversations.id)"
    )
    db.execute("CREATE INDEX messages_by_parent ON messages (parent_id)")


@migrations(name="0006_message_system")
def add_message_system(db: sqlite_utils.Database) -> None:
    # The system prompt a message was written under, kept when the conversation's
    # changes (`prompt -c -s`, the chat app's settings): NULL means "the
    # conversation's system prompt", '' means none. Before, a change replaced the
    # only copy, so earlier turns showed (and exported) a prompt they never had.
    db.execute("ALTER TABLE messages ADD COLUMN system TEXT")


@migrations(name="0007_message_token_ids")
def add_message_token_ids(db: sqlite_utils.Database) -> None:
    # A reply's token ids (JSON list) when they were not stored with logprobs in
    # `tokens`: the exact tokens the model sampled, which re-tokenizing the text
    # does not always give back.
    db.execute("ALTER TABLE messages ADD COLUMN token_ids TEXT")


@migrations(name="0008_message_rendered")
def add_message_rendered(db: sqlite_utils.Database) -> None:
    # A template run's user message as the template rendered it (JSON list of
    # {"role", "content"}: its example turns and filled-in body), while
    # `content` keeps what the user typed. Before, `content` held the rendered
    # text alone: the conversation reopened as the whole template, and its
    # example turns were lost to `-c`. NULL: `content` was sent as it is.
    db.execute("ALTER TABLE messages ADD COLUMN rendered TEXT")


@migrations(name="0009_message_completion_prompt")
def add_message_completion_prompt(db: sqlite_utils.Database) -> None:
    # A completion-mode reply's prompt: the exact text the model continued
    # (a base model is sent the conversation as one text). Rebuilt from the
    # turns instead, a conversation reopened after the way turns are joined
    # changed (a space between a reply and the next user text) was another text
    # than the one the model wrote after. NULL: a chat-mode reply, a tool's, or
    # one written before (rebuilt from its turns: nothing else to go on).
    db.execute("ALTER TABLE messages ADD COLUMN completion_prompt TEXT")


@migrations(name="0010_completion_prompt_deltas")
def add_completion_prompt_deltas(db: sqlite_utils.Database) -> None:
    # A completion-mode reply's prompt as what it adds to the prompt of the reply
    # before it (see assistant/history/completion_prompts.py): stored whole, the
    # prompts of an n-turn conversation took space in n squared. Rows with a base
    # keep completion_prompt NULL, so a version before this reads them as replies
    # without a recorded prompt, never as a wrong one. The prompts stored whole
    # so far are converted.
    from .completion_prompts import store_all

    db.execute("ALTER TABLE messages ADD COLUMN completion_prompt_base INTEGER")
    db.execute("ALTER TABLE messages ADD COLUMN completion_prompt_keep INTEGER")
    db.execute("ALTER TABLE messages ADD COLUMN completion_prompt_added TEXT")
    store_all(db)


SEARCH_TRIGGERS = """
CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
  INSERT INTO messages_fts (rowid, content) VALUES (new.id, coalesce(new.searchable, new.content));
END;
CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, coalesce(old.searchable, old.content));
END;
CREATE TRIGGER messages_au AFTER UPDATE OF content, searchable ON messages BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, coalesce(old.searchable, old.content));
  INSERT INTO messages_fts (rowid, content) VALUES (new.id, coalesce(new.searchable, new.content));
END;
"""
"""The triggers that keep ``messages_fts`` in step with ``messages`` (what 0011 indexes)."""


@migrations(name="0011_search_words_without_escapes")
def index_words_without_escapes(db: sqlite_utils.Database) -> None:
    # The index holds the words a user sees: a message's content without terminal
    # escape sequences (`messages.searchable`, set only where that differs from the
    # content, which is kept as it came). Indexed as stored, "\x1b[31mred" was
    # the word "31mred" and a search for "red" missed it. The index reads the view
    # messages_search, so 'rebuild' (`history repair`) makes the same index again.
    # Only content and searchable changes reindex a message (a status did before).
    from .repair import drop_search_index
    from .stored_text import searchable_text

    db.execute("ALTER TABLE messages ADD COLUMN searchable TEXT")
    drop_search_index(db)
    cleaned = []
    for message_id, content in db.execute("SELECT id, content FROM messages"):
        words = searchable_text(content) if isinstance(content, str) else None  # another program's number: as it is
        if words is not None:
            cleaned.append((words, message_id))
    db.conn.executemany("UPDATE messages SET searchable = ? WHERE id = ?", cleaned)
    db.execute("CREATE VIEW messages_search AS SELECT id, coalesce(searchable, content) AS content FROM messages")
    db.execute(
        "CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages_search', content_rowid='id',"
        f" tokenize='{FTS_TOKENIZER}')"
    )
    for trigger in SEARCH_TRIGGERS.split("END;")[:-1]:
        db.execute(trigger + "END;")
    db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")


@migrations(name="0012_conversation_ids_never_reused")
def never_reuse_conversation_ids(db: sqlite_utils.Database) -> None:
    # AUTOINCREMENT: without it SQLite gives a new row the largest id + 1, so after
    # `history delete` of the newest conversation the next chat got its id, and a
    # note or script saying "conversation 5" pointed at another conversation.
    # SQLite cannot add it to a table: the table is made again, rows and ids as
    # they were (its sqlite_sequence starts at the largest id kept; ids deleted
    # before this upgrade are not known any more). The old table is dropped with
    # foreign keys off (see migrate()): with them on, dropping it deletes every
    # message through ON DELETE CASCADE. After 0011: the rename reads every
    # trigger, and one writing to a search index FTS5 cannot open (a damaged
    # file) failed it, which left the file unusable, even to `history repair`;
    # 0011 has made that index anew.
    if db.execute("PRAGMA foreign_keys").fetchone()[0] and db.execute("SELECT 1 FROM messages LIMIT 1").fetchone():
        raise HistoryError("0012_conversation_ids_never_reused runs with foreign keys off: apply it with migrate()")
    columns = "id, title, created, updated, model, backend, template, system, params, kind, head_id"
    db.execute(
        """
        CREATE TABLE conversations_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT,
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            model TEXT,
            backend TEXT,
            template TEXT,
            system TEXT,
            params TEXT,
            kind TEXT NOT NULL DEFAULT 'chat',
            head_id INTEGER
        )
        """
    )
    db.execute(f"INSERT INTO conversations_new ({columns}) SELECT {columns} FROM conversations")
    db.execute("DROP TABLE conversations")
    db.execute("ALTER TABLE conversations_new RENAME TO conversations")
    db.execute("CREATE INDEX conversations_by_updated ON conversations (updated, id)")


MESSAGE_COLUMNS = (
    "id, conversation_id, role, content, created, model, backend, template, params, prompt_tokens,"
    " completion_tokens, ttft_ms, tokens_per_second, duration_ms, status, error, tool_name, tool_result, tokens,"
    " finish_reason, parent_id, system, token_ids, rendered, completion_prompt, completion_prompt_base,"
    " completion_prompt_keep, completion_prompt_added, searchable"
)
"""The columns of ``messages`` as 0001-0011 made them, in that order (what 0013 copies)."""


@migrations(name="0013_message_ids_never_reused")
def never_reuse_message_ids(db: sqlite_utils.Database) -> None:
    # AUTOINCREMENT, as 0012 for conversations: without it, after `history delete` of
    # the newest conversation the next turn's messages got the deleted ones' ids, and
    # an id a user had been shown (`history show --at`, an export, a branch in the
    # chat app) named another message. The table is made again with its rows, ids,
    # parent links (and the ids conversations.head_id and completion_prompt_base
    # hold) as they were. The search index keys on the ids, so it stays as it is:
    # only the view it reads and the triggers that feed it are dropped before the
    # rename (which reads every view and trigger naming `messages`, and refused one
    # naming a table not there yet) and made again after it.
    # Columns a user added (`sqlite-utils add-column history.db messages rating integer`) go along.
    known = {name.strip() for name in MESSAGE_COLUMNS.split(",")}
    added = [
        (_quoted(name), kind or "") for _, name, kind, *_ in db.execute("PRAGMA table_info(messages)").fetchall()
        if name not in known
    ]
    columns = MESSAGE_COLUMNS + "".join(f", {name}" for name, _ in added)
    db.execute("DROP VIEW IF EXISTS messages_search")
    for trigger in ("messages_ai", "messages_ad", "messages_au"):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    db.execute(
        """
        CREATE TABLE messages_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL,
            created TEXT NOT NULL,
            model TEXT,
            backend TEXT,
            template TEXT,
            params TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            ttft_ms REAL,
            tokens_per_second REAL,
            duration_ms REAL,
            status TEXT NOT NULL DEFAULT 'complete'
                CHECK (status IN ('complete', 'interrupted', 'error')),
            error TEXT,
            tool_name TEXT,
            tool_result TEXT,
            tokens TEXT,
            finish_reason TEXT,
            parent_id INTEGER,
            system TEXT,
            token_ids TEXT,
            rendered TEXT,
            completion_prompt TEXT,
            completion_prompt_base INTEGER,
            completion_prompt_keep INTEGER,
            completion_prompt_added TEXT,
            searchable TEXT
        """
        + "".join(f",\n            {name} {kind}" for name, kind in added)
        + "\n        )"
    )
    db.execute(f"INSERT INTO messages_new ({columns}) SELECT {columns} FROM messages")
    db.execute("DROP TABLE messages")
    db.execute("ALTER TABLE messages_new RENAME TO messages")
    db.execute("CREATE INDEX messages_by_conversation ON messages (conversation_id, id)")
    db.execute("CREATE INDEX messages_by_parent ON messages (parent_id)")
    db.execute("CREATE VIEW messages_search AS SELECT id, coalesce(searchable, content) AS content FROM messages")
    for trigger in SEARCH_TRIGGERS.split("END;")[:-1]:
        db.execute(trigger + "END;")


def _quoted(name: str) -> str:
    """``name`` as an SQL identifier, whatever it holds."""
    return '"' + name.replace('"', '""') + '"'


@migrations(name="0014_message_model_refs")
def add_message_model_refs(db: sqlite_utils.Database) -> None:
    # The reference that loads a turn's model again, where its name does not: `model`
    # is what the engine calls it, the file name of one given by path (`-m ~/m/x.gguf`
    # is "x.gguf"), so `-c`, `--cid` and the chat app's reopening tried to load
    # "x.gguf" from the models directory: "model file not found". NULL: the name is
    # the reference (a catalog name, hf:, a URL, a server's model, rows written before).
    db.execute("ALTER TABLE messages ADD COLUMN model_ref TEXT")


@migrations(name="0015_batch_turns")
def add_batch_turns(db: sqlite_utils.Database) -> None:
    # Where a batch's newest turn stands in its results file: a batch killed after recording a
    # row's turn and before writing that row's line left a turn no line named; when it was the
    # first row's, nothing in the file named the conversation at all, and `--resume` began a
    # second one and recorded the row again. One row per batch conversation (see .batch_turns).
    db.execute(
        """
        CREATE TABLE batch_turns (
            conversation_id INTEGER PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
            message_id INTEGER NOT NULL,
            results TEXT NOT NULL,
            written INTEGER NOT NULL,
            row INTEGER NOT NULL,
            row_id TEXT
        )
        """
    )


READABLE_WITHOUT: frozenset[str] = frozenset(
    {
        "0009_message_completion_prompt",
        "0010_completion_prompt_deltas",
        "0011_search_words_without_escapes",
        "0012_conversation_ids_never_reused",
        "0013_message_ids_never_reused",
        "0014_message_model_refs",
        "0015_batch_turns",
    }
)
"""Migrations a file can be read without: each adds only what every read does without — a column
read as NULL where it is missing, an index built from other words, an id never given twice. A read-only file lacking nothing else is read as it is (``history list``,
``--no-log -c``) instead of "needs upgrading but is read-only": a new column must not lock
the previous version's read-only copies out."""


def needed_to_read(pending: list[str]) -> list[str]:
    """The pending migrations (names) a reader cannot do without (see :data:`READABLE_WITHOUT`)."""
    return [name for name in pending if name not in READABLE_WITHOUT]


def pending_names(db: sqlite_utils.Database, migration_set: Migrations = migrations) -> list[str]:
    return [m.name for m in migration_set.pending(db)]


def newer_names(db: sqlite_utils.Database, migration_set: Migrations = migrations) -> list[str]:
    """Migrations of this set the file records that this version does not have: a newer version's file.

    Why: such a file was opened and written as if it had this version's schema;
    rows written without what the newer schema expects (a column it fills, a
    meaning it gave one) break the file for the version that made it. Reading
    commands still read it; :meth:`~assistant.history.store.HistoryStore.open` refuses to write it.
    """
    known = {m.name for m in migration_set.pending(sqlite_utils.Database(memory=True))}  # all, on an empty file
    return [m.name for m in migration_set.applied(db) if m.name not in known]


def foreign_tables(db: sqlite_utils.Database, migration_set: Migrations = migrations) -> list[str]:
    """The tables of a database that holds data but none of the history's migrations: another program's file.

    Why: opening is what creates the schema, so ``--db`` naming some other SQLite
    file (a typo, a browser's or an app's database) added the history's tables to
    it — even from ``history list`` — or failed half way with "table messages
    already exists". An empty file, or one the history already wrote, gives [].
    """
    if migration_set.applied(db):
        return []
    return sorted(
        name for name in db.table_names() if not name.startswith("sqlite_") and name != migration_set.migrations_table
    )


def refuse_foreign(db: sqlite_utils.Database, path: Path) -> None:
    """Never add the history's tables to another program's SQLite file (see :func:`foreign_tables`)."""
    tables = foreign_tables(db)
    if tables:
        shown = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
        raise HistoryError(
            f"{path} is a SQLite database but not an assistant history (it has tables {shown}); "
            "choose another file with --db"
        )


def migrate(db: sqlite_utils.Database, migration_set: Migrations = migrations) -> list[str]:
    """Apply pending migrations under the write lock; return the names applied.

    Each migration commits with its record (sqlite-utils' savepoint per
    migration); if one raises, its changes are rolled back, the ones before it
    stay applied, and the error propagates with the failed one still pending.
    """
    if not migration_set.pending(db):  # the common case: a read, no lock
        return []
    # Foreign keys off while the schema changes, as SQLite's own procedure for
    # remaking a table says (a pragma that does nothing inside a transaction):
    # dropping the old conversations table would otherwise delete every message.
    foreign_keys = db.execute("PRAGMA foreign_keys").fetchone()[0]
    db.execute("PRAGMA foreign_keys = OFF")
    try:
        db.conn.execute("BEGIN IMMEDIATE")
        before = set(pending_names(db, migration_set))
        try:
            migration_set.apply(db)
        except BaseException:
            # apply() rolled back the failing migration's savepoint; keep the ones
            # that succeeded, as sqlite-utils does outside a transaction.
            if db.conn.in_transaction:
                db.conn.execute("COMMIT")
            raise
        db.conn.execute("COMMIT")
    finally:
        db.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
    return sorted(before - set(pending_names(db, migration_set)))
