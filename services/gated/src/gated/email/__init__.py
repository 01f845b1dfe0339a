"""The email channel inside gated: IMAP in (`imap`, `ingest`), SMTP out (`smtp`), pure parsing,
threading and loop rules (`parse`, `threading`, `loops`); `service.EmailChannel` wires them."""
