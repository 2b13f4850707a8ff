CREATE TABLE `checkout_sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`shopper_id` text NOT NULL,
	`product_id` integer NOT NULL,
	`quantity` integer NOT NULL,
	`mode` text NOT NULL,
	`status` text DEFAULT 'open' NOT NULL,
	`payment_status` text DEFAULT 'unpaid' NOT NULL,
	`amount_total` integer,
	`currency` text,
	`url` text,
	`form_token` text NOT NULL,
	`customer_email` text,
	`stripe_customer_id` text,
	`stripe_subscription_id` text,
	`subscription_status` text,
	`subscription_event_at` integer,
	`payment_intent_id` text,
	`expires_at` integer,
	`flag` text,
	`fulfilled_at` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`shopper_id`) REFERENCES `shoppers`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`product_id`) REFERENCES `products`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `checkout_sessions_form_token_unique` ON `checkout_sessions` (`form_token`);--> statement-breakpoint
CREATE INDEX `checkout_sessions_shopper_created_idx` ON `checkout_sessions` (`shopper_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `checkout_sessions_subscription_idx` ON `checkout_sessions` (`stripe_subscription_id`);--> statement-breakpoint
CREATE INDEX `checkout_sessions_status_idx` ON `checkout_sessions` (`status`,`payment_status`);--> statement-breakpoint
CREATE TABLE `job_locks` (
	`name` text PRIMARY KEY NOT NULL,
	`holder` text NOT NULL,
	`acquired_at` integer NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `products` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`slug` text NOT NULL,
	`name` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`stripe_product_id` text,
	`stripe_price_id` text NOT NULL,
	`mode` text NOT NULL,
	`unit_amount` integer NOT NULL,
	`currency` text NOT NULL,
	`recurring_interval` text,
	`max_quantity` integer DEFAULT 1 NOT NULL,
	`active` integer DEFAULT true NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `products_slug_unique` ON `products` (`slug`);--> statement-breakpoint
CREATE UNIQUE INDEX `products_stripe_price_id_unique` ON `products` (`stripe_price_id`);--> statement-breakpoint
CREATE TABLE `shoppers` (
	`id` text PRIMARY KEY NOT NULL,
	`stripe_customer_id` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `shoppers_stripe_customer_id_unique` ON `shoppers` (`stripe_customer_id`);--> statement-breakpoint
CREATE TABLE `stripe_events` (
	`id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`created` integer NOT NULL,
	`livemode` integer NOT NULL,
	`payload` text NOT NULL,
	`source` text DEFAULT 'webhook' NOT NULL,
	`received_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`processed_at` integer,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `stripe_events_created_idx` ON `stripe_events` (`created`);