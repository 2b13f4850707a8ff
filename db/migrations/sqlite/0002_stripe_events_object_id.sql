ALTER TABLE `stripe_events` ADD `object_id` text;--> statement-breakpoint
CREATE INDEX `stripe_events_object_idx` ON `stripe_events` (`object_id`);--> statement-breakpoint
-- Backfill: events recorded before this column existed.
UPDATE `stripe_events` SET `object_id` = json_extract(`payload`, '$.data.object.id') WHERE `object_id` IS NULL AND json_valid(`payload`);
