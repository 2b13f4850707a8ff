CREATE TABLE `job_checkpoints` (
	`name` text PRIMARY KEY NOT NULL,
	`checkpoint` integer NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL
);
