CREATE TABLE `refunds` (
	`id` text PRIMARY KEY NOT NULL,
	`checkout_session_id` text NOT NULL,
	`charge_id` text,
	`payment_intent_id` text,
	`amount` integer NOT NULL,
	`status` text NOT NULL,
	`created` integer NOT NULL,
	`event_at` integer NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`checkout_session_id`) REFERENCES `checkout_sessions`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `refunds_checkout_idx` ON `refunds` (`checkout_session_id`);--> statement-breakpoint
CREATE INDEX `refunds_status_idx` ON `refunds` (`status`);--> statement-breakpoint
ALTER TABLE `checkout_sessions` ADD `amount_refund_pending` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `checkout_sessions` ADD `charge_amount_refunded` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `stripe_events` ADD `link_id` text;--> statement-breakpoint
CREATE INDEX `stripe_events_link_idx` ON `stripe_events` (`link_id`);--> statement-breakpoint
-- Rows from before: the charge total they hold is the one a charge event reported.
UPDATE checkout_sessions SET charge_amount_refunded = amount_refunded;
