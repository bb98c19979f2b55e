// placeholder entry until the align job lands (issue 4)
export {};
