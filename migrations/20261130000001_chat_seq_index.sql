-- store_chat numbers a session's messages with MAX(seq) + 1: this index
-- answers it without scanning the session's chat.
CREATE INDEX chat_messages_seq_idx ON chat_messages (session_id, seq);
