-- Search over the journal without scanning it: a trigram index (substring matches of three
-- characters or more) over each call's parties and notes, kept by triggers. Contentless: the
-- text lives in `calls`; the index holds only what finds it. Contact names are searched in
-- `contacts_search` (name, company, emails) and joined through calls.contact_id.
CREATE VIRTUAL TABLE calls_search USING fts5(
    parties, notes, content = '', contentless_delete = 1, tokenize = 'trigram'
);
INSERT INTO calls_search (rowid, parties, notes)
    SELECT rowid, from_party || ' ' || to_party, coalesce(notes, '') FROM calls;

CREATE TRIGGER calls_search_insert AFTER INSERT ON calls BEGIN
    INSERT INTO calls_search (rowid, parties, notes)
        VALUES (new.rowid, new.from_party || ' ' || new.to_party, coalesce(new.notes, ''));
END;
CREATE TRIGGER calls_search_update AFTER UPDATE OF from_party, to_party, notes ON calls BEGIN
    DELETE FROM calls_search WHERE rowid = old.rowid;
    INSERT INTO calls_search (rowid, parties, notes)
        VALUES (new.rowid, new.from_party || ' ' || new.to_party, coalesce(new.notes, ''));
END;
CREATE TRIGGER calls_search_delete AFTER DELETE ON calls BEGIN
    DELETE FROM calls_search WHERE rowid = old.rowid;
END;

CREATE VIRTUAL TABLE contacts_search USING fts5(
    name, company, emails, content = '', contentless_delete = 1, tokenize = 'trigram'
);
INSERT INTO contacts_search (rowid, name, company, emails)
    SELECT rowid, name, coalesce(company, ''), emails FROM contacts;
CREATE TRIGGER contacts_search_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO contacts_search (rowid, name, company, emails)
        VALUES (new.rowid, new.name, coalesce(new.company, ''), new.emails);
END;
CREATE TRIGGER contacts_search_update AFTER UPDATE OF name, company, emails ON contacts BEGIN
    DELETE FROM contacts_search WHERE rowid = old.rowid;
    INSERT INTO contacts_search (rowid, name, company, emails)
        VALUES (new.rowid, new.name, coalesce(new.company, ''), new.emails);
END;
CREATE TRIGGER contacts_search_delete AFTER DELETE ON contacts BEGIN
    DELETE FROM contacts_search WHERE rowid = old.rowid;
END;
