-- The numbers an SMS notification has reached: a retry after one number failed texts only the others.
ALTER TABLE alert_notifications ADD COLUMN sent_to text[] NOT NULL DEFAULT '{}';
