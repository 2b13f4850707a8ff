CREATE TABLE `job_runs` (
	`name` text PRIMARY KEY NOT NULL,
	`finished_at` integer NOT NULL,
	`ok` integer NOT NULL,
	`report` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `order_changes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`checkout_session_id` text NOT NULL,
	`at` integer NOT NULL,
	`event_id` text,
	`source` text NOT NULL,
	`before` text NOT NULL,
	`after` text NOT NULL,
	FOREIGN KEY (`checkout_session_id`) REFERENCES `checkout_sessions`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `order_changes_checkout_idx` ON `order_changes` (`checkout_session_id`,`at`);--> statement-breakpoint
CREATE TABLE `webhook_failures` (
	`event_id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`error` text NOT NULL,
	`count` integer NOT NULL,
	`first_at` integer NOT NULL,
	`last_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `webhook_failures_last_idx` ON `webhook_failures` (`last_at`);