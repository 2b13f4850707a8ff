ALTER TABLE `checkout_sessions` ADD `stripe_charge_id` text;--> statement-breakpoint
ALTER TABLE `checkout_sessions` ADD `amount_refunded` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `checkout_sessions` ADD `dispute_status` text;--> statement-breakpoint
ALTER TABLE `checkout_sessions` ADD `invoice_status` text;--> statement-breakpoint
ALTER TABLE `checkout_sessions` ADD `invoice_event_at` integer;