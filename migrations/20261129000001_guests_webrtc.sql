-- Whether guests may watch over WebRTC (interactive seats); otherwise they
-- watch HLS. 0/1 like the other flags.
ALTER TABLE sessions ADD COLUMN guests_webrtc BIGINT NOT NULL DEFAULT 0;
