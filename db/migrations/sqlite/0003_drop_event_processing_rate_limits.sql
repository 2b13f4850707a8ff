CREATE TABLE `rate_limits` (
	`name` text NOT NULL,
	`key` text NOT NULL,
	`window_start` integer NOT NULL,
	`points` integer NOT NULL,
	PRIMARY KEY(`name`, `key`)
);
--> statement-breakpoint
CREATE INDEX `rate_limits_window_idx` ON `rate_limits` (`window_start`);--> statement-breakpoint
ALTER TABLE `stripe_events` DROP COLUMN `processed_at`;--> statement-breakpoint
ALTER TABLE `stripe_events` DROP COLUMN `error`;